"""Regression engine: the course notebook's numbers, the per-epoch reference, closed form."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.regression_reference import train_regression_reference
from descent_server.ml.linear import least_squares, predict_regression
from descent_server.ml.regression import (
    RegressionConfig,
    analyze,
    train_regression,
)
from descent_server.ml.types import EpochRecord, InvalidData

# The notebook's movies: "want to see" counts → audience (10,000s).
MOVIES_X = np.array([8759.0, 10132.0, 12078.0, 16430.0])
MOVIES_Y = np.array([487.0, 612.0, 866.0, 1030.0])


def course(lr: float, epochs: int = 300, **kwargs: Any) -> RegressionConfig:
    """Return the notebook's set-up: a0 = −0.75, b0 = −100, course gradient."""
    return RegressionConfig(lr, epochs, init_weights=(-0.75,), init_bias=-100.0, **kwargs)


def notebook_descent(lr: float, epochs: int) -> tuple[list, list, list]:
    """Run the notebook's own training cell, pandas Series and all."""
    x = pd.Series(MOVIES_X)
    y = pd.Series(MOVIES_Y)

    def model(x, a, b):
        return a * x + b

    def mse(pred, true):
        return ((pred - true) ** 2).mean()

    a, b = -0.75, -100
    a_history, b_history, loss_history = [a], [b], [mse(model(x, a, b), y)]
    for _ in range(epochs):
        a_old, b_old = a_history[-1], b_history[-1]
        y_pred = model(x, a_old, b_old)
        gradient_a = ((y_pred - y) * x).mean()
        gradient_b = (y_pred - y).mean()
        a_history.append(a_old - lr * gradient_a)
        b_history.append(b_old - lr * gradient_b)
        loss_history.append(mse(y_pred, y))
    return a_history, b_history, loss_history


def random_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return offset, unevenly scaled features and a noisy linear target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=np.arange(3.0, 3.0 + d), scale=np.linspace(1.0, 2.5, d), size=(n, d))
    w = rng.normal(size=d)
    y = X @ w + 1.5 + rng.normal(scale=0.3, size=n)
    return X, y


def assert_same_history(fast, ref, rtol: float = 1e-12) -> None:
    """Every loss agrees to rtol; every parameter to rtol of its column's largest value."""
    assert fast.status == ref.status
    np.testing.assert_array_equal(fast.history.epochs, ref.history.epochs)
    np.testing.assert_allclose(fast.history.loss, ref.history.loss, rtol=rtol, atol=0)
    # A parameter can pass through zero mid-run, where a relative error means nothing.
    for name in ("weights", "bias"):
        got, want = getattr(fast.history, name), getattr(ref.history, name)
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=name)


def test_course_run_reproduces_the_notebook() -> None:
    config = course(2e-10)
    result = train_regression(MOVIES_X, MOVIES_Y, config)
    assert result.status == "succeeded"
    assert result.epochs_run == 300
    assert result.params["a"] == pytest.approx(0.07145849581, rel=1e-10)
    assert result.params["b"] == pytest.approx(-99.99993453, rel=1e-10)
    assert predict_regression(result.params, [12008.0])[0] == pytest.approx(758.0736831, rel=1e-10)
    assert result.final_loss == pytest.approx(3548.244901, rel=1e-9)

    a_hist, b_hist, loss_hist = notebook_descent(2e-10, 300)
    np.testing.assert_allclose(result.history.weights[:, 0], a_hist, rtol=1e-12)
    np.testing.assert_allclose(result.history.bias, b_hist, rtol=1e-12)
    # The notebook logs the loss before each update, one row behind ours.
    np.testing.assert_allclose(result.history.loss[:-1], loss_hist[1:], rtol=1e-12)
    assert result.history.loss[0] == pytest.approx(loss_hist[0], rel=1e-14)


@pytest.mark.parametrize(
    ("lr", "loss_after_one_step"),
    [(1e-3, 2.2236984164813e18), (1e-12, 100_406_361.3), (2e-10, 94_547_437.7)],
)
def test_one_step_at_the_course_learning_rates(lr: float, loss_after_one_step: float) -> None:
    result = train_regression(MOVIES_X, MOVIES_Y, course(lr, epochs=1))
    assert result.history.loss[0] == pytest.approx(100_436_247.890625, rel=1e-14)
    assert result.final_loss == pytest.approx(loss_after_one_step, rel=1e-9)


def test_too_large_a_learning_rate_diverges_keeping_the_offending_row() -> None:
    result = train_regression(MOVIES_X, MOVIES_Y, course(1e-3))
    assert result.status == "diverged"
    assert result.epochs_run == 1
    assert result.history.epochs.tolist() == [0, 1]
    assert result.final_loss == pytest.approx(2.2236984164813e18, rel=1e-9)
    assert analyze(MOVIES_X, MOVIES_Y, RegressionConfig(1e-3)).lr_verdict == "diverges"


def test_a_non_finite_row_is_dropped() -> None:
    config = course(1e-3, epochs=1000, divergence_factor=1e300)
    for engine in (train_regression, train_regression_reference):
        result = engine(MOVIES_X, MOVIES_Y, config)
        assert result.status == "diverged"
        assert 10 < result.epochs_run < 1000
        assert np.isfinite(result.history.loss).all()
        assert np.isfinite(result.history.weights).all()


def test_analysis_thresholds_match_what_descent_does() -> None:
    X, y = random_data(2000, 2, seed=3)
    lr_max = analyze(X, y, RegressionConfig()).lr_max
    hessian = np.column_stack([X, np.ones(len(y))])
    lam = np.linalg.eigvalsh(hessian.T @ hessian / len(y))[-1]
    assert lr_max == pytest.approx(2 / lam, rel=1e-10)
    exact = analyze(X, y, RegressionConfig(gradient="exact"))
    assert exact.lr_max == pytest.approx(lr_max / 2, rel=1e-12)
    for fraction, verdict, status in [
        (0.45, "converges", "succeeded"),
        (0.8, "oscillates", "succeeded"),
        (1.1, "diverges", "diverged"),
    ]:
        config = RegressionConfig(fraction * lr_max, epochs=5000)
        assert analyze(X, y, config).lr_verdict == verdict
        result = train_regression(X, y, config)
        assert result.status == status
        if verdict == "converges":
            assert (np.diff(result.history.loss) <= 1e-9 * result.history.loss[:-1]).all()


def test_analysis_of_a_normalised_run_uses_the_normalised_features() -> None:
    analysis = analyze(MOVIES_X, MOVIES_Y, RegressionConfig(0.5, normalize="minmax"))
    x = (MOVIES_X - MOVIES_X.min()) / np.ptp(MOVIES_X)
    z = np.column_stack([x, np.ones(4)])
    assert analysis.lr_max == pytest.approx(2 / np.linalg.eigvalsh(z.T @ z / 4)[-1], rel=1e-12)
    assert analysis.lr_verdict == "converges"
    assert json.dumps(analysis.to_dict())


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("gradient", ["course", "exact"])
@pytest.mark.parametrize("normalize", ["none", "minmax", "standard"])
def test_fast_engine_matches_the_per_epoch_reference(d: int, gradient: str, normalize: str) -> None:
    X, y = random_data(100_000, d, seed=d)
    base = RegressionConfig(gradient=gradient, normalize=normalize)  # type: ignore[arg-type]
    lr_max = analyze(X, y, base).lr_max
    # Slow and monotone, oscillating, and just past lr_max (slowly blowing up).
    for fraction in (0.1, 0.9, 1.02):
        config = RegressionConfig(
            learning_rate=fraction * lr_max,
            epochs=100,
            init_weights=(0.5,) * d,
            init_bias=-1.0,
            gradient=gradient,  # type: ignore[arg-type]
            normalize=normalize,  # type: ignore[arg-type]
        )
        assert_same_history(
            train_regression(X, y, config), train_regression_reference(X, y, config)
        )


@pytest.mark.parametrize("normalize", ["none", "minmax", "standard"])
def test_training_to_convergence_reaches_least_squares(normalize: str) -> None:
    X, y = random_data(5000, 3, seed=11)
    if normalize == "none":
        X = X - X.mean(axis=0)  # keep unnormalised descent well conditioned enough
    config = RegressionConfig(normalize=normalize)  # type: ignore[arg-type]
    lr = 0.5 * analyze(X, y, config).lr_max
    result = train_regression(X, y, RegressionConfig(lr, epochs=20_000, normalize=normalize))  # type: ignore[arg-type]
    lstsq = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    np.testing.assert_allclose(result.weights, lstsq[:3], rtol=1e-9)
    assert result.bias == pytest.approx(lstsq[3], rel=1e-9)
    closed = least_squares(X, y)
    assert result.final_loss == pytest.approx(closed["loss"], rel=1e-12)
    np.testing.assert_allclose(closed["params"]["weights"], lstsq[:3], rtol=1e-10)
    # History is in the data's units: each row's loss is the MSE of its reported params.
    for row in (0, 7, len(result.history.loss) - 1):
        err = X @ result.history.weights[row] + result.history.bias[row] - y
        assert result.history.loss[row] == pytest.approx(err @ err / len(y), rel=1e-12)


def test_exact_gradient_is_the_course_gradient_times_two() -> None:
    X, y = random_data(1000, 2, seed=5)
    exact = train_regression(X, y, RegressionConfig(0.01, epochs=50, gradient="exact"))
    course = train_regression(X, y, RegressionConfig(0.02, epochs=50, gradient="course"))
    np.testing.assert_allclose(exact.history.weights, course.history.weights, rtol=1e-15)


def test_minibatch_is_deterministic_resumable_and_matches_the_reference() -> None:
    X, y = random_data(1000, 2, seed=9)
    config = RegressionConfig(0.005, epochs=12, batch_size=64, seed=42, normalize="standard")
    first = train_regression(X, y, config)
    again = train_regression(X, y, config)
    np.testing.assert_array_equal(first.history.weights, again.history.weights)
    other = train_regression(X, y, RegressionConfig(0.005, epochs=12, batch_size=64, seed=43))
    assert not np.array_equal(first.history.weights, other.history.weights)
    assert_same_history(first, train_regression_reference(X, y, config))

    plain = RegressionConfig(0.005, epochs=12, batch_size=64, seed=42)
    whole = train_regression(X, y, plain)
    resumed = train_regression(X, y, plain.resumed(5, whole.history.params(5)))
    assert resumed.history.epochs.tolist() == list(range(5, 13))
    np.testing.assert_array_equal(resumed.history.weights, whole.history.weights[5:])
    np.testing.assert_array_equal(resumed.history.loss, whole.history.loss[5:])


def test_full_batch_resume_continues_the_same_trajectory() -> None:
    config = course(2e-10)
    whole = train_regression(MOVIES_X, MOVIES_Y, config)
    resumed = train_regression(MOVIES_X, MOVIES_Y, config.resumed(120, whole.history.params(120)))
    assert resumed.epochs_run == 300
    np.testing.assert_array_equal(resumed.history.weights, whole.history.weights[120:])


def test_on_epoch_sees_every_epoch_in_order_with_data_unit_params() -> None:
    records: list[EpochRecord] = []
    config = RegressionConfig(0.1, epochs=25, normalize="minmax")
    result = train_regression(MOVIES_X, MOVIES_Y, config, on_epoch=records.append)
    assert [r.epoch for r in records] == list(range(26))
    for r in records:
        assert r.params == result.history.params(r.epoch)
        assert r.loss == result.history.loss[r.epoch]
    assert json.dumps([r.params for r in records])


def test_should_stop_cancels_between_epochs_and_keeps_the_history() -> None:
    polls = []

    def should_stop() -> bool:
        polls.append(1)
        return len(polls) > 7

    result = train_regression(MOVIES_X, MOVIES_Y, course(2e-10), None, should_stop)
    assert result.status == "cancelled"
    assert result.epochs_run == 7
    assert result.history.epochs.tolist() == list(range(8))


def test_one_init_weight_applies_to_every_feature_and_a_wrong_count_is_invalid() -> None:
    X, y = random_data(100, 3, seed=1)
    result = train_regression(X, y, RegressionConfig(epochs=0, init_weights=(0.5,)))
    assert result.params == {"weights": [0.5, 0.5, 0.5], "bias": 0.0}
    with pytest.raises(InvalidData, match="weights"):
        train_regression(X, y, RegressionConfig(init_weights=(1.0, 2.0)))


@pytest.mark.parametrize(
    ("X", "y"),
    [
        (np.ones((3, 1)), np.ones(4)),
        (np.ones((0, 1)), np.ones(0)),
        (np.array([[1.0], [np.nan]]), np.ones(2)),
        (np.ones((2, 1)), np.array([1.0, np.inf])),
    ],
)
def test_bad_data_is_rejected(X: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(InvalidData):
        train_regression(X, y, RegressionConfig())


def test_predict_accepts_both_param_shapes() -> None:
    assert predict_regression({"a": 2.0, "b": 1.0}, [1.0, 2.0]).tolist() == [3.0, 5.0]
    got = predict_regression({"weights": [1.0, -1.0], "bias": 0.5}, [[2.0, 1.0], [0.0, 3.0]])
    assert got.tolist() == [1.5, -2.5]
    with pytest.raises(InvalidData):
        predict_regression({"weights": [1.0, -1.0], "bias": 0.5}, [[1.0, 2.0, 3.0]])


def test_constant_feature_still_trains_with_normalisation() -> None:
    X = np.column_stack([np.linspace(0, 1, 50), np.full(50, 4.0)])
    y = 2 * X[:, 0] + 1
    result = train_regression(X, y, RegressionConfig(0.5, epochs=3000, normalize="standard"))
    assert result.status == "succeeded"
    assert predict_regression(result.params, X) == pytest.approx(y, abs=1e-9)
