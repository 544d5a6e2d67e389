"""The READMEs' Python examples type-check under `mypy --strict` (the SDK is typed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def python_blocks(readme: Path) -> list[str]:
    """Return the ```python blocks of a README, in order."""
    return re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("readme", ["sdk/README.md", "README.md"])
def test_readme_python_blocks_pass_mypy_strict(readme: str, tmp_path: Path) -> None:
    blocks = python_blocks(ROOT / readme)
    assert len(blocks) >= 2
    # One module, as a reader runs them: the second block uses the first one's client.
    example = tmp_path / "readme_example.py"
    example.write_text("\n".join(blocks))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(example)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no project config: plain --strict, as a user's own script gets
        check=False,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout + done.stderr
