"""Benchmark the ml engines against the plain ways of doing the same work.

Usage: python bench/engines.py [regression] [surface] ...   (no names: every section)

Each section returns rows of one table: work | baseline | ours | ratio | goal | pass.
Times are medians of several runs on this machine; the ratio is baseline / ours.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from descent_server.ml.regression import RegressionConfig, RegressionResult, train_regression
from descent_server.ml.regression_reference import train_regression_reference
from descent_server.ml.surface import loss_surface

MOVIES_X = np.array([8759.0, 10132.0, 12078.0, 16430.0])
MOVIES_Y = np.array([487.0, 612.0, 866.0, 1030.0])


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    work: str
    baseline: str
    ours: str
    ratio: str
    goal: str
    passed: bool | None  # None: for information, no goal


def median_time(fn: Callable[[], object], runs: int, warm_up: bool = True) -> float:
    """Return the median wall time of `runs` calls of fn (after one untimed call if warm_up)."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fmt_time(seconds: float) -> str:
    """Return a duration with a sensible unit."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


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


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "regression": bench_regression,
    "surface": bench_surface,
}


def print_table(rows: list[Row]) -> None:
    """Print the rows as one aligned table."""
    header = ("work", "baseline", "ours", "ratio", "goal", "pass")
    cells = [header] + [
        (r.work, r.baseline, r.ours, r.ratio, r.goal, "-" if r.passed is None else
         ("yes" if r.passed else "NO"))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, line in enumerate(cells):
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (all when none) and print the table; 1 if a goal is missed."""
    names = list(sys.argv[1:] if argv is None else argv) or list(SECTIONS)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
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
