"""The learning-rate range test: its schedule, smoothing and rule, and suggestions that train."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from descent_server.domain import Status
from descent_server.ml.datasets import load_builtin
from descent_server.ml.lr_range import (
    BETA,
    STEEPEST_MARGIN,
    learning_rates,
    lr_range_test,
    run_schedule,
    suggest,
)
from descent_server.ml.mlp import MLPConfig, train_mlp
from descent_server.ml.regression import RegressionConfig, analyze, train_regression
from tests.ml.test_mlp import small_blobs, three_blobs


def movies() -> tuple[np.ndarray, np.ndarray]:
    """Return the course's four films: want-to-see counts (4, 1) and audiences."""
    data = load_builtin("movies")
    return data["num_want_to_see"][:, None], data["nums_audience"]


def test_learning_rates_grow_exponentially_from_min_to_max():
    lrs = learning_rates(1e-7, 10, 100)
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10 ** (8 / 99), rtol=1e-12)
    for bad in ((0, 1, 100), (1, 1, 100), (1e-3, math.inf, 100), (1e-3, 1, 5)):
        with pytest.raises(ValueError):
            learning_rates(*bad)


def test_smoothing_is_fastais_bias_corrected_average_and_stops_at_four_times_the_best():
    losses = [1.0, 0.8, 0.7, 0.6, 0.6, 0.5, 4.0, 40.0, 400.0, 4000.0, 1.0, 1.0]
    points, raw, stopped = run_schedule(learning_rates(1e-3, 1, 12), lambda i, lr: losses[i])
    average, expected = 0.0, []
    for i, loss in enumerate(losses[: len(points)]):
        average = BETA * average + (1 - BETA) * loss
        expected.append(average / (1 - BETA ** (i + 1)))
    np.testing.assert_allclose([p[1] for p in points], expected, rtol=1e-12)
    assert stopped and raw == losses[: len(points)]
    assert points[-1][1] > 4 * min(expected[:-1]) and points[-2][1] <= 4 * min(expected[:-2])


def test_a_loss_that_is_not_finite_stops_the_test_without_a_point():
    losses = [1.0, 0.9, math.nan, 0.5]
    points, raw, stopped = run_schedule(np.geomspace(1e-3, 1, 4), lambda i, lr: losses[i])
    assert stopped and len(points) == 2 and raw == [1.0, 0.9]
    points, _, stopped = run_schedule(np.geomspace(1e-3, 1, 4), lambda i, lr: 1.0, lambda: True)
    assert stopped and points == []


def test_steepest_descent_is_found_on_a_known_curve():
    # A logistic fall centred at lr = 1e-2 in log space: steepest exactly there.
    lrs = learning_rates(1e-6, 1, 121)
    losses = 1 + 1 / (1 + np.exp((np.log10(lrs) + 2) * 3))
    suggested, rule = suggest(list(zip(lrs.tolist(), losses.tolist(), strict=True)))
    assert rule == "steepest"
    assert suggested * STEEPEST_MARGIN == pytest.approx(1e-2, rel=0.1)


def test_no_descent_falls_back_to_a_tenth_of_the_minimum():
    lrs = learning_rates(1e-6, 1, 50)
    rising = list(zip(lrs.tolist(), np.linspace(1, 2, 50).tolist(), strict=True))
    assert suggest(rising) == (pytest.approx(1e-7), "minimum/10")
    assert suggest([]) == (None, "minimum/10")


def test_course_mlp_suggestion_trains_to_the_courses_accuracy():
    x, y = three_blobs()
    config = MLPConfig(hidden_layers=(40, 40), optimizer="sgd", normalize="minmax", seed=100)
    result = lr_range_test(x, y, [0, 1, 2], config, min_lr=1e-7, max_lr=10, steps=100)
    assert result.rule == "steepest" and result.seed == 100
    assert 1e-3 < result.suggested < 1  # the course itself trains at 0.01
    assert len(result.points) == len(result.raw_losses) > 50
    json.dumps(result.to_dict())
    trained = train_mlp(x, y, [0, 1, 2], replace(config, learning_rate=result.suggested))
    assert trained.status == Status.SUCCEEDED
    assert trained.history[-1].epoch == 20
    assert trained.history[-1].val_accuracy >= 0.98


def test_same_seed_gives_the_same_curve():
    x, y = small_blobs(40)
    config = MLPConfig(seed=7, batch_size=16)
    first = lr_range_test(x, y, ["a", "b", "c"], config, 1e-4, 10, 30)
    again = lr_range_test(x, y, ["a", "b", "c"], config, 1e-4, 10, 30)
    assert first.points == again.points and first.suggested == again.suggested


def test_movies_suggestion_stays_below_lr_max_and_trains():
    x, y = movies()
    config = RegressionConfig(init_weights=(-0.75,), init_bias=-100.0)  # the course's start
    lr_max = analyze(x, y, config).lr_max
    result = lr_range_test(x, y, [], config, min_lr=1e-12, max_lr=1e-6, steps=100)
    assert result.lr_max == pytest.approx(lr_max) and result.suggested <= lr_max
    assert result.stopped_early  # past 2/λ_max the loss explodes
    assert max(lr for lr, _ in result.points) > lr_max
    trained = train_regression(x, y, replace(config, learning_rate=result.suggested))
    assert trained.status == Status.SUCCEEDED
    assert trained.final_loss < trained.history.loss[0] / 100


def test_movies_range_starting_past_lr_max_is_capped_by_the_curvature():
    x, y = movies()
    config = RegressionConfig()  # raw features: lr_max is about 1.3e-8
    result = lr_range_test(x, y, [], config)  # the API's defaults: 1e-7 .. 10
    assert result.stopped_early and len(result.points) < 10
    assert result.rule == "curvature"
    assert result.suggested == pytest.approx(result.lr_max / 2)


def test_minibatch_regression_runs_on_normalized_features():
    x, y = movies()
    config = RegressionConfig(normalize="standard", batch_size=2, seed=1)
    result = lr_range_test(x, y, [], config, 1e-4, 10, 60)
    assert 0 < result.suggested <= result.lr_max
    assert len(result.raw_losses) == len(result.points)
