"""scripts/gpu_check.sh in its --cpu-only smoke mode: CI covers the GPU check's code path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "result.json"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--cpu-only", "--small", "--no-suite",
         "--wheels", str(tmp_path / "no-wheels"), "--json", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seeded CPU/GPU history: PASS" in proc.stdout
    assert "| large MLP 2-512-512-3 |" in proc.stdout

    result = json.loads(out.read_text())
    assert result["equivalence"]["pass"]
    # The same seed on the same device gives the very same history.
    assert all(v == 0 for v in result["equivalence"]["max_abs_diff"].values())
    jobs = {row["job"]: row for row in result["throughput"]}
    assert set(jobs) == {"course MLP 2-40-40-3", "large MLP 2-512-512-3"}
    for row in jobs.values():
        assert row["cpu_samples_per_s"] > 0 and row["gpu_samples_per_s"] > 0
