"""Time the MLP engine on the active Keras backend and print one JSON line (for bench/engines.py).

Usage: KERAS_BACKEND=jax python bench/mlp_child.py
"""

from __future__ import annotations

import json
import statistics
import time

T0 = time.perf_counter()
import keras  # noqa: E402, F401  (timed: the backend's import is part of the comparison)
import numpy as np  # noqa: E402

IMPORT_S = time.perf_counter() - T0

from descent_server.ml.datasets import load_builtin  # noqa: E402
from descent_server.ml.mlp import MLPConfig, train_mlp  # noqa: E402


def _peak_rss_mb() -> float:
    # VmHWM: this process image's peak. (getrusage's ru_maxrss survives exec, so a child
    # started by a big parent would report the parent's peak.)
    with open("/proc/self/status") as status:
        line = next(s for s in status if s.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main() -> None:
    """Train the course MLP a few times and print the timings as JSON."""
    data = load_builtin("three-blobs")
    x = np.column_stack([data["x1"], data["x2"]])
    y = data["label"].astype(int)
    config = MLPConfig(seed=100)
    first = time.perf_counter()
    result = train_mlp(x, y, [0, 1, 2], config)
    first_s = time.perf_counter() - first
    times = []
    for _ in range(3):
        start = time.perf_counter()
        train_mlp(x, y, [0, 1, 2], config)
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "backend": result.backend, "device": result.device, "import_s": IMPORT_S,
        "first_run_s": first_s, "run_s": statistics.median(times),
        "val_accuracy": result.history[-1].val_accuracy,
        "peak_rss_mb": _peak_rss_mb(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
