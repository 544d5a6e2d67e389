"""GPU check (issue 7): a seeded MLP gives the same history on CPU and GPU, and how fast each is.

Uses the service's own engine (`descent_server.ml.mlp.train_mlp`) under Keras's device scope.
Run through scripts/gpu_check.sh (it sets KERAS_BACKEND=jax and installs Keras if needed).
`--cpu-only` runs the "GPU" side on the CPU too, a smoke test of this code path for CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descent_server.ml.datasets import load_builtin
from descent_server.ml.keras_backend import keras_module
from descent_server.ml.mlp import MLPConfig, train_mlp
from descent_server.ml.types import EpochRecord

# Same history means: every epoch's losses within RTOL (relative) + ATOL, accuracies within
# ACC_TOL (a handful of the 2,700 training points may flip near the boundary).
RTOL, ATOL, ACC_TOL = 1e-3, 1e-4, 0.005
SEED = 7


@dataclass
class Timed:
    """An on_epoch callback that keeps each record and when it arrived."""

    records: list[EpochRecord] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def __call__(self, record: EpochRecord) -> None:
        self.times.append(time.perf_counter())
        self.records.append(record)

    def samples_per_s(self, n_train: int) -> float:
        """Return training rows per second over the epochs after the first (compile) one."""
        gaps = np.diff(self.times)[1:]  # times[0] is epoch 0, before training
        return n_train / statistics.median(gaps) if len(gaps) else float("nan")


def course_data() -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Return the course's three blobs: (3000, 2) inputs, class indices, classes."""
    data = load_builtin("three-blobs")
    x = np.column_stack([data["x1"], data["x2"]])
    return x, data["label"].astype(np.int64), [0, 1, 2]


def large_data(rows: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Return `rows` points of three overlapping Gaussian blobs in 2-D."""
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, 3, rows)
    centres = np.array([[25.0, 30.0], [80.0, 40.0], [50.0, 70.0]])
    return centres[y] + rng.normal(0, 10, (rows, 2)), y, [0, 1, 2]


@contextlib.contextmanager
def on_device(device: str, exact: bool) -> Iterator[None]:
    """Place Keras work on `device` ("cpu:0", "gpu:0"); exact: full float32 matmuls."""
    keras = keras_module()
    with contextlib.ExitStack() as stack:
        stack.enter_context(keras.device(device))
        if exact and keras.backend.backend() == "jax":
            import jax

            # TF32 on the GPU would differ from the CPU by design, not by a bug.
            stack.enter_context(jax.default_matmul_precision("float32"))
        yield


def train(
    data: tuple[np.ndarray, np.ndarray, list[int]], config: MLPConfig, device: str, exact: bool
) -> Timed:
    """Train on `device` and return the timed history."""
    x, y, classes = data
    timed = Timed()
    with on_device(device, exact):
        result = train_mlp(x, y, classes, config, on_epoch=timed)
    assert result.status == "succeeded", result.status
    return timed


def compare(a: list[EpochRecord], b: list[EpochRecord]) -> dict[str, Any]:
    """Return the largest per-epoch differences between two histories and whether they pass."""
    assert [r.epoch for r in a] == [r.epoch for r in b], "different epochs recorded"
    worst: dict[str, float] = {}
    ok = True
    for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
        u = np.array([getattr(r, name) for r in a], dtype=float)
        v = np.array([getattr(r, name) for r in b], dtype=float)
        diff = np.abs(u - v)
        worst[name] = float(diff.max())
        limit = ACC_TOL if "accuracy" in name else ATOL + RTOL * np.abs(u)
        ok = ok and bool(np.all(diff <= limit))
    return {"max_abs_diff": worst, "pass": ok}


def devices(cpu_only: bool) -> tuple[str, str, str]:
    """Return (cpu device, gpu device, description), failing clearly if no GPU is found."""
    keras = keras_module()
    if cpu_only:
        return "cpu:0", "cpu:0", "cpu-only smoke mode: both sides on the CPU"
    if keras.backend.backend() != "jax":
        sys.exit("the GPU check runs on the JAX backend: set KERAS_BACKEND=jax")
    import jax

    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError:
        sys.exit("no GPU visible to JAX (use --cpu-only for a smoke test)")
    return "cpu:0", "gpu:0", f"jax {jax.__version__}, GPU {gpu.device_kind}"


def main(argv: list[str] | None = None) -> int:
    """Run the equivalence check and the throughput table; exit 1 if the histories differ."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpu-only", action="store_true", help="no GPU: smoke-test the path")
    parser.add_argument("--small", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    cpu, gpu, description = devices(args.cpu_only)
    keras = keras_module()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}; {description}")

    course = course_data()
    course_cfg = MLPConfig(seed=SEED, epochs=2 if args.small else 20)  # the notebook's model
    rows = 16_384 if args.small else 1_048_576
    large = large_data(rows)
    large_cfg = MLPConfig(
        hidden_layers=(512, 512), batch_size=8192, epochs=2 if args.small else 5,
        optimizer="adam", learning_rate=1e-3, seed=SEED, snapshot_every=0,
    )  # fmt: skip

    print(f"\n== seeded history, {course_cfg.epochs} epochs of the course MLP: {cpu} vs {gpu}")
    print(f"   tolerance: |d loss| <= {ATOL} + {RTOL}*|loss|, |d accuracy| <= {ACC_TOL}")
    a = train(course, course_cfg, cpu, exact=True)
    b = train(course, course_cfg, gpu, exact=True)
    verdict = compare(a.records, b.records)
    print(f"   {'epoch':>5} {'loss cpu':>12} {'loss gpu':>12} {'acc cpu':>8} {'acc gpu':>8}")
    for r, s in zip(a.records, b.records, strict=True):
        print(
            f"   {r.epoch:>5} {r.loss:>12.6f} {s.loss:>12.6f} {r.accuracy:>8.4f} {s.accuracy:>8.4f}"
        )
    worst = ", ".join(f"{k} {v:.2e}" for k, v in verdict["max_abs_diff"].items())
    print(f"   max |diff|: {worst} -> {'PASS' if verdict['pass'] else 'FAIL'}")

    # The course MLP's timings come from the runs above; the large job runs at full speed.
    jobs = [
        ("course MLP 2-40-40-3", course, course_cfg, (a, b)),
        ("large MLP 2-512-512-3", large, large_cfg, None),
    ]
    table = []
    for name, data, cfg, done in jobs:
        ta, tb = done or (train(data, cfg, cpu, exact=False), train(data, cfg, gpu, exact=False))
        n = len(data[1]) - round(len(data[1]) * cfg.validation_split)
        cpu_rate, gpu_rate = ta.samples_per_s(n), tb.samples_per_s(n)
        table.append({
            "job": name, "rows": len(data[1]), "batch": cfg.batch_size, "epochs": cfg.epochs,
            "cpu_samples_per_s": cpu_rate, "gpu_samples_per_s": gpu_rate,
            "speedup": gpu_rate / cpu_rate,
        })  # fmt: skip

    gpu_label = "GPU" if not args.cpu_only else "CPU again"
    print("\n== throughput (training rows per second, median epoch after the first)")
    print(f"| job | rows | batch | epochs | CPU samples/s | {gpu_label} samples/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in table:
        print(
            f"| {row['job']} | {row['rows']:,} | {row['batch']} | {row['epochs']} "
            f"| {row['cpu_samples_per_s']:,.0f} | {row['gpu_samples_per_s']:,.0f} "
            f"| {row['speedup']:.2f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps({"equivalence": verdict, "throughput": table}, indent=2))
    print(f"\nseeded CPU/GPU history: {'PASS' if verdict['pass'] else 'FAIL'}")
    return 0 if verdict["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
