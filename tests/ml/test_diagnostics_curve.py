"""The diagnostics' running statistics: the same numbers a scan of the whole curve gives.

The loss rules once rescanned every recorded loss at each epoch (quadratic in the run's
length); they now read a `Curve`'s running minima. These tests hold the two to the same
floats, ties, window changes and long runs included, and the engine's findings to the
same as feeding every record to rules that scan.
"""

from __future__ import annotations

import random

import pytest

from descent_server.domain import Kind
from descent_server.ml.datasets import load_builtin
from descent_server.ml.diagnostics import Diagnostics, regression_diagnostics
from descent_server.ml.diagnostics.curve import Curve
from descent_server.ml.regression import RegressionConfig, train_regression
from descent_server.ml.types import EpochRecord


def scanned(values: list[float], window: int) -> tuple[float, float]:
    """The plateau rule's two minima the way it once computed them."""
    return min(values[:-window]), min(values[-window:])


@pytest.mark.parametrize("seed", range(6))
def test_running_minima_equal_scans_of_the_whole_curve(seed: int) -> None:
    rng = random.Random(seed)
    # Few distinct values: many ties, which a scan resolves to the first occurrence.
    pool = [rng.uniform(0.0, 10.0) for _ in range(5 + seed * 3)]
    curve, values = Curve(), []
    window = rng.choice([1, 3, 10, 37])
    for i in range(400):
        value = rng.choice(pool) if seed % 2 else rng.uniform(0.0, 10.0) / (1 + i / 50)
        curve.append(value)
        values.append(value)
        assert (curve.first, curve.last, len(curve)) == (values[0], values[-1], len(values))
        assert curve.best == min(values)
        assert curve.tail(4) == values[-4:]
        if len(values) > 1:
            assert curve.best_before == min(values[:-1])
        if len(values) > window:
            assert curve.window_minima(window) == scanned(values, window)
        if i == 250:  # a run's window set anew (Diagnoser sets the epochs it counts)
            window += 5


def test_the_window_can_start_late_and_change() -> None:
    curve = Curve()
    values = [5.0, 4.0, 4.0, 6.0, 3.0, 3.0, 7.0, 2.0, 8.0, 8.0, 1.0, 9.0]
    for value in values:
        curve.append(value)
    for window in (3, 1, 7, 11, 2):
        assert curve.window_minima(window) == scanned(values, window)
    curve.append(0.5)
    assert curve.window_minima(2) == scanned([*values, 0.5], 2)


def _records(n: int, seed: int) -> list[EpochRecord]:
    """A noisy curve that falls, stalls, swings and blows up: every loss rule gets a say."""
    rng = random.Random(seed)
    out, loss, a, b = [], 10.0, 0.0, 0.0
    for epoch in range(n):
        phase = epoch * 4 // n
        if phase == 0:
            loss *= 0.999
        elif phase == 1:
            loss *= 1.0 + rng.uniform(-1e-4, 1e-4)
        elif phase == 2:
            loss *= 1.6 if epoch % 2 else 0.62
        else:
            loss *= 1.3
        a, b = a + rng.gauss(0, 0.01), b + rng.choice([0.0, 1e-9])
        out.append(EpochRecord(epoch=epoch, loss=loss, params={"a": a, "b": b}))
    return out


def test_a_long_regression_is_watched_at_every_epoch_with_the_course_findings() -> None:
    movies = load_builtin("movies")
    x, y = movies["num_want_to_see"][:, None], movies["nums_audience"]
    config = RegressionConfig(learning_rate=2e-10, epochs=30_000)
    diag = regression_diagnostics(x, y, config)
    found: list[dict[str, object]] = []
    train_regression(x, y, config, on_epoch=lambda r: found.extend(diag.observe(r)))
    assert [(f["code"], f["severity"], f["epoch"]) for f in found] == [
        ("unscaled_features", "warning", 0),
        ("unscaled_features", "error", 10),
    ]
    assert len(diag.loss) == 30_001


@pytest.mark.parametrize("seed", [1, 2])
def test_findings_on_a_crafted_curve_come_in_order(seed: int) -> None:
    diag = Diagnostics(kind=Kind.MLP_REGRESSOR, n_features=1, epochs=400)
    found = [f for r in _records(400, seed) for f in diag.observe(r)]
    assert [f["code"] for f in found] == ["plateau", "oscillating", "diverging"]
    plateau, oscillating, diverging = found
    assert 100 < plateau["epoch"] < 200 and 200 <= oscillating["epoch"] < 300
    assert diverging["epoch"] >= 300
    assert diverging["evidence"]["best_loss"] == float(f"{diag.loss.best:.6g}")
