"""Write the SDK's copy of each run kind's hyperparameter JSON schema.

The `descent` CLI lists hyperparameters in `runs submit --help` without a server (and the SDK
never imports the server), so it ships the JSON schemas of the server's own pydantic models
(each built-in kind's `hyperparameters`, `descent_server.services.kinds`). Rerun after
changing those models:

    .venv/bin/python scripts/sdk_hyperparameters.py

tests/sdk/test_cli.py fails while the copy is out of date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from descent_server.services import kinds

TARGET = Path(__file__).resolve().parents[1] / "sdk" / "src" / "descent" / "hyperparameters.json"


def schemas() -> dict[str, Any]:
    """Return each kind's hyperparameter JSON schema, as the API validates them."""
    return {a.kind: a.hyperparameters.model_json_schema() for a in kinds.adapters()}


def render() -> str:
    """Return the file's text."""
    return json.dumps(schemas(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
