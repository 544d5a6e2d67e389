"""The search's draws and the early-stopping rules on fixed numbers (no database)."""

from __future__ import annotations

import math

import pytest

from descent_server.services import search
from descent_server.services.pruning import Rule, asha_stops, median_stops

SPACE = {
    "lr": {"log_uniform": [1e-4, 1.0]},
    "dropout": {"uniform": [0.0, 0.5]},
    "units": {"int_uniform": [2, 4]},
    "act": {"choice": ["relu", "tanh"]},
    "batch": [16, 32],
}


def test_the_same_seed_draws_the_same_points_inside_the_bounds() -> None:
    points = search.random_points(SPACE, n_runs=200, seed=7)
    assert points == search.random_points(SPACE, n_runs=200, seed=7)
    assert points != search.random_points(SPACE, n_runs=200, seed=8)
    # Drawing fewer runs gives the first ones of the longer draw: runs are drawn in order.
    assert search.random_points(SPACE, n_runs=3, seed=7) == points[:3]
    assert all(1e-4 <= p["lr"] <= 1.0 and 0 <= p["dropout"] <= 0.5 for p in points)
    assert {p["units"] for p in points} == {2, 3, 4}  # both ends included
    assert {p["act"] for p in points} == {"relu", "tanh"} and {p["batch"] for p in points} == {
        16,
        32,
    }
    # log-uniform: about as many draws in each decade
    decades = [math.floor(math.log10(p["lr"])) for p in points]
    assert all(30 <= decades.count(d) <= 70 for d in (-4, -3, -2, -1))


def test_grid_points_in_order() -> None:
    assert search.grid_points({"a": [1, 2], "b": ["x", "y"]}, loc=["body", "grid"]) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"},
    ]  # fmt: skip


def test_rungs() -> None:
    assert Rule(min_epochs=3, reduction_factor=3).rungs(30) == [3, 9, 27]
    assert Rule(min_epochs=3, reduction_factor=3).rungs(27) == [3, 9]
    assert Rule(min_epochs=5).rungs(5) == []


@pytest.mark.parametrize(
    ("value", "values", "stops"),
    [
        (0.9, [0.9], False),  # the first arrivals continue while fewer than rf have arrived
        (0.9, [0.1, 0.9], False),
        (0.9, [0.1, 0.5, 0.9], True),  # 3 values, rf 3: only the best one continues
        (0.1, [0.1, 0.5, 0.9], False),
        (0.5, [0.1, 0.5, 0.9], True),
        (0.5, [0.1, 0.5, 0.9, 0.2, 0.3, 0.7], True),  # 6 values: the best 2 (0.1, 0.2)
        (0.2, [0.1, 0.5, 0.9, 0.2, 0.3, 0.7], False),
        (0.3, [0.3, 0.3, 0.3], False),  # ties with the best continue
        (0.4, [float("nan"), None, 0.4], False),  # missing and non-finite count as worst
        (None, [None, 0.1, 0.2], False),  # a run without the metric is never stopped
    ],
)
def test_asha(value: float | None, values: list[float | None], stops: bool) -> None:
    assert asha_stops(value, values, 3) is stops


@pytest.mark.parametrize(
    ("value", "peers", "stops"),
    [
        (0.9, [0.1, 0.2], False),  # fewer than 3 peers
        (0.9, [0.1, 0.2, 0.3], True),
        (0.2, [0.1, 0.2, 0.3], False),  # equal to the median: not worse
        (0.25, [0.1, 0.2, 0.3, 0.4], False),  # the median of an even count: the mean of two
        (0.3, [0.1, 0.2, 0.3, 0.4], True),
        (0.01, [0.1, 0.2, 0.3], False),  # the best is never stopped
        (0.5, [float("inf"), None, 0.4], False),  # median of (0.4, inf, inf) is inf
    ],
)
def test_median(value: float | None, peers: list[float | None], stops: bool) -> None:
    assert median_stops(value, peers) is stops
