"""Benchmark the ml engines against the plain ways of doing the same work.

Usage: python -m bench.engines [regression] [surface] ...   (no names: every section)

Each section returns rows of one table: work | baseline | ours | ratio | goal | pass.
Times are medians of several runs on this machine; the ratio is baseline / ours.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Row, fmt_time, median_time, pick_sections, print_table
from bench.regression_reference import train_regression_reference
from descent_server.ml.regression import RegressionConfig, RegressionResult, train_regression
from descent_server.ml.surface import loss_surface

MOVIES_X = np.array([8759.0, 10132.0, 12078.0, 16430.0])
MOVIES_Y = np.array([487.0, 612.0, 866.0, 1030.0])


def speed_row(work: str, baseline: float, ours: float, goal: float | None) -> Row:
    """Return a row comparing two timings, passing when baseline/ours ≥ goal."""
    ratio = baseline / ours
    return Row(
        work,
        fmt_time(baseline),
        fmt_time(ours),
        f"{ratio:,.0f}×",
        "info" if goal is None else f"≥ {goal:,.0f}×",
        None if goal is None else ratio >= goal,
    )


def max_relative_difference(fast: RegressionResult, ref: RegressionResult) -> float:
    """Return the largest relative difference over the history (params: to their column's size)."""
    worst = float(np.max(np.abs(fast.history.loss / ref.history.loss - 1)))
    for name in ("weights", "bias"):  # a parameter may cross zero, so scale by the column
        got, want = getattr(fast.history, name), getattr(ref.history, name)
        worst = max(worst, float(np.max(np.abs(got - want)) / np.max(np.abs(want))))
    return worst


def bench_regression() -> list[Row]:
    """P1: full-batch regression, n = 1e6 rows × 1000 epochs, fast vs per-epoch numpy."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    X = rng.normal(5.0, 2.0, size=(n, 1))
    y = 3.0 * X[:, 0] + 2.0 + rng.normal(0.0, 1.0, size=n)
    config = RegressionConfig(learning_rate=0.01, epochs=1000)
    fast = train_regression(X, y, config)
    ref = train_regression_reference(X, y, config)  # also the baseline's warm-up
    diff = max_relative_difference(fast, ref)
    ours = median_time(lambda: train_regression(X, y, config), runs=9)
    # Seconds per run, and nothing to warm up that the run above has not.
    baseline = median_time(lambda: train_regression_reference(X, y, config), 3, warm_up=False)
    work = "P1 regression 1e6 rows × 1000 epochs (sufficient stats vs per-epoch numpy)"
    return [
        speed_row(work, baseline, ours, 500),
        Row("P1 same history: max relative difference", "", f"{diff:.1e}", "", "≤ 1e-12",
            diff <= 1e-12 and fast.status == ref.status),
    ]  # fmt: skip


def notebook_grid_search(x, y, a_case: np.ndarray, b_case: np.ndarray) -> tuple[float, float]:
    """Run the notebook's grid search: a Python loop over every (a, b) pair."""

    def mse(x, y, a, b):
        return ((a * x + b - y) ** 2).mean()

    a_b_cases = np.stack(np.meshgrid(a_case, b_case), axis=-1).reshape(-1, 2)
    losses = []
    for a, b in a_b_cases:
        losses.append(mse(x, y, a, b))
    optim_a, optim_b = a_b_cases[np.argmin(np.array(losses))]
    return float(optim_a), float(optim_b)


def bench_surface() -> list[Row]:
    """P2: the course's 100×100 loss surface, closed form vs the notebook's pair loop."""
    a_case, b_case = np.linspace(-1, 1, 100), np.linspace(-1000, 1000, 100)
    x_series, y_series = pd.Series(MOVIES_X), pd.Series(MOVIES_Y)
    loop_opt = notebook_grid_search(x_series, y_series, a_case, b_case)
    surface = loss_surface(MOVIES_X, MOVIES_Y, a_case, b_case)
    same = loop_opt == (surface.grid_optimum["a"], surface.grid_optimum["b"])
    ours = median_time(lambda: loss_surface(MOVIES_X, MOVIES_Y, a_case, b_case), runs=200)
    notebook = median_time(lambda: notebook_grid_search(x_series, y_series, a_case, b_case), runs=3)
    arrays = median_time(lambda: notebook_grid_search(MOVIES_X, MOVIES_Y, a_case, b_case), runs=3)
    return [
        speed_row("P2 surface 100×100 (closed form vs notebook loop, pandas)", notebook, ours, 1e4),
        speed_row("P2 surface 100×100 (closed form vs same loop on numpy arrays)", arrays, ours,
                  None),
        Row("P2 same grid optimum as the notebook loop", "", f"{surface.grid_optimum['a']:.10f}, "
            f"{surface.grid_optimum['b']:.7f}", "", "equal", same),
    ]  # fmt: skip


# --- P3: the MLP engine (course net, boundary snapshots, backends) ---


def _course_blobs() -> tuple[np.ndarray, np.ndarray]:
    from descent_server.ml.datasets import load_builtin

    data = load_builtin("three-blobs")
    return np.column_stack([data["x1"], data["x2"]]), data["label"].astype(int)


def _notebook_model():
    """Build and compile the notebook's 2-40-40-3 softmax net with SGD()."""
    import keras

    inputs = keras.Input(shape=(2,))
    h = keras.layers.Dense(40, "relu")(keras.layers.Dense(40, "relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, "softmax")(h))
    model.compile(keras.optimizers.SGD(), keras.losses.CategoricalCrossentropy())
    return model


def _notebook_loop(x: np.ndarray, y: np.ndarray, epochs: int = 20) -> None:
    """The notebook's loop: fit(epochs=1), predict the 100×100 mesh, draw and save, per epoch."""
    from matplotlib.figure import Figure

    lo, hi = x.min(axis=0), x.max(axis=0)
    xp, y_ohe = (x - lo) / (hi - lo), np.eye(3)[y]
    rng = np.arange(0, 100)
    mesh = np.stack(np.meshgrid((rng - lo[0]) / (hi[0] - lo[0]), (rng - lo[1]) / (hi[1] - lo[1])),
                    axis=-1).reshape(-1, 2)  # fmt: skip
    model = _notebook_model()
    for n in range(1, epochs + 1):
        model.fit(xp, y_ohe, epochs=1, validation_split=0.1, verbose=0)
        pred = np.argmax(model.predict(mesh, verbose=0), axis=-1).reshape(100, 100)
        fig = Figure(figsize=(8, 6))
        ax = fig.subplots()
        for c in range(3):
            ax.scatter(x[y == c, 0], x[y == c, 1], c=f"C{c}", s=3, alpha=0.5, label="abc"[c])
        ax.contourf(rng, rng, pred, alpha=0.2, cmap="Set3")
        ax.set_xticks(np.arange(0, 110, 10))
        ax.set_yticks(np.arange(0, 110, 10))
        ax.set_title(f"after {n} epochs")
        ax.set_xlim([0, 100])
        ax.set_ylim([0, 100])
        ax.legend()
        fig.tight_layout()
        fig.savefig(io.BytesIO(), format="png")


def _plain_fit(x: np.ndarray, y: np.ndarray, epochs: int = 20) -> None:
    """Plain Keras: the notebook's model, one fit of all epochs, nothing recorded."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    _notebook_model().fit((x - lo) / (hi - lo), np.eye(3)[y], epochs=epochs,
                          validation_split=0.1, verbose=0)  # fmt: skip


def _backend_child(backend: str) -> dict | None:
    """Run bench/mlp_child.py under KERAS_BACKEND=backend; return its JSON or None."""
    script = Path(__file__).with_name("mlp_child.py")
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    if proc.returncode != 0:
        print(f"{backend} child failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _info_row(work: str, baseline: float, ours: float) -> Row:
    return Row(work, fmt_time(baseline), fmt_time(ours), f"{baseline / ours:.2f}×", "info", None)


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Return each fn's median time over rounds that run every fn once, in turn.

    Taking turns spreads the machine's background load over all contenders alike.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_mlp() -> list[Row]:
    """P3: the course MLP, 20 epochs with a boundary snapshot every epoch, vs the notebook."""
    from descent_server.ml.mlp import MLPConfig, train_mlp

    x, y = _course_blobs()
    snaps, plain = MLPConfig(seed=100), MLPConfig(seed=100, snapshot_every=0)
    train_mlp(x, y, [0, 1, 2], snaps)  # warm-up: TensorFlow's first graphs, numpy, matplotlib
    _plain_fit(x, y, epochs=1)
    runs: list = []
    t = _interleaved({
        "notebook": lambda: _notebook_loop(x, y),
        "ours": lambda: runs.append(train_mlp(x, y, [0, 1, 2], snaps)),
        "ours_plain": lambda: train_mlp(x, y, [0, 1, 2], plain),
        "keras_fit": lambda: _plain_fit(x, y),
    }, rounds=3)  # fmt: skip
    result = runs[-1]
    n_snaps = sum(r.snapshot is not None for r in result.history)
    # Within one run (immune to the machine's load): time drawing snapshots, and time in
    # the whole per-epoch recorder (snapshots, validation, gradient and weight norms).
    snap_cost = statistics.median(
        r.timings["snapshot"] / (r.timings["total"] - r.timings["snapshot"]) for r in runs
    )
    record_cost = statistics.median(
        r.timings["record"] / (r.timings["total"] - r.timings["record"]) for r in runs
    )
    over_fit = t["ours"] / t["keras_fit"] - 1
    rows = [
        speed_row(f"P3 MLP 20 epochs + {n_snaps} boundaries (notebook fit/predict/savefig loop)",
                  t["notebook"], t["ours"], 10),
        Row("P3 snapshot cost, measured inside our run", "", f"{snap_cost:+.1%}", "", "≤ +15%",
            snap_cost <= 0.15),
        Row("P3 all per-epoch records (snapshots, val, grad/weight norms), inside our run", "",
            f"{record_cost:+.1%}", "", "≤ +15%", record_cost <= 0.15),
        Row("P3 ours with snapshots vs ours without (separate runs)", fmt_time(t["ours_plain"]),
            fmt_time(t["ours"]), f"{t['ours'] / t['ours_plain'] - 1:+.0%}", "info", None),
        Row("P3 ours (snapshots, norms, val) vs plain Keras fit(epochs=20)",
            fmt_time(t["keras_fit"]), fmt_time(t["ours"]), f"{over_fit:+.0%}", "≤ +15%",
            over_fit <= 0.15),
        Row("P3 val accuracy after 20 epochs", "", f"{result.history[-1].val_accuracy:.3f}",
            "", "≥ 0.9", result.history[-1].val_accuracy >= 0.9),
    ]  # fmt: skip
    children = {b: _backend_child(b) for b in ("tensorflow", "jax")}
    tf, jx = children["tensorflow"], children["jax"]
    if tf and jx:
        rows += [
            _info_row("P3 backends: ours 20 epochs + snapshots (TensorFlow → JAX)", tf["run_s"],
                      jx["run_s"]),
            _info_row("P3 backends: import + first run in a fresh process",
                      tf["import_s"] + tf["first_run_s"], jx["import_s"] + jx["first_run_s"]),
            Row("P3 backends: peak memory of that process", f"{tf['peak_rss_mb']:.0f} MB",
                f"{jx['peak_rss_mb']:.0f} MB", f"{tf['peak_rss_mb'] / jx['peak_rss_mb']:.2f}×",
                "info", None),
            speed_row("P3 notebook loop (TensorFlow) vs ours on JAX", t["notebook"],
                      jx["run_s"], None),
        ]  # fmt: skip
    return rows


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "regression": bench_regression,
    "surface": bench_surface,
    "mlp": bench_mlp,
}


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (all when none) and print the table; 1 if a goal is missed."""
    names = pick_sections(argv, SECTIONS)
    if names is None:
        return 2
    rows = [row for name in names for row in SECTIONS[name]()]
    print_table(rows)
    # Numbers depend on the machine's load and on BLAS threading (the per-epoch baseline's
    # BLAS calls are threaded by default, which is slower, not faster, on busy cores).
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"\n(load average {os.getloadavg()[0]:.1f}, OPENBLAS_NUM_THREADS={threads})")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
