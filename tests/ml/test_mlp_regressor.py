"""The MLP engine as a regressor: it learns a curve, records mae, films its fit, resumes exactly."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from descent_server.ml.mlp import (
    MLPConfig,
    MLPModel,
    fit_points,
    mlp_analysis,
    param_count,
    split_rows,
    train_mlp,
)
from descent_server.ml.mlp_model import TrainingState
from descent_server.ml.mlp_predict import predict_proba_batched, predict_values_batched
from descent_server.ml.types import EpochRecord, InvalidData

SIN = MLPConfig(
    task="regression", hidden_layers=(32, 32), activation="tanh", optimizer="adam",
    learning_rate=0.01, batch_size=32, epochs=100, seed=1, snapshot_every=10,
    snapshot_resolution=60,
)  # fmt: skip


def sine(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Return x uniform in [-3, 3] (n, 1) and y = sin(x), seeded."""
    x = np.random.default_rng(0).uniform(-3, 3, n)
    return x[:, None], np.sin(x)


@pytest.fixture(scope="module")
def sine_run():
    """[32, 32] tanh, adam 0.01, batch 32, 100 epochs on y = sin(x): a few seconds on a CPU."""
    x, y = sine()
    seen: list[EpochRecord] = []
    return x, y, train_mlp(x, y, [], SIN, on_epoch=seen.append), seen


def test_it_learns_the_sine(sine_run):
    _, _, result, seen = sine_run
    assert result.status == "succeeded" and seen == result.history
    assert [r.epoch for r in result.history] == list(range(101))
    assert result.history[-1].val_mae < 0.1
    assert result.history[-1].mae < 0.1 < result.history[0].mae
    assert result.metrics == {
        "loss": result.history[-1].loss, "val_loss": result.history[-1].val_loss,
        "mae": result.history[-1].mae, "val_mae": result.history[-1].val_mae,
    }  # fmt: skip
    assert result.n_params == param_count(SIN, 1, 0) == 1 * 32 + 32 + 32 * 32 + 32 + 32 + 1


def test_every_record_has_mae_and_no_accuracy(sine_run):
    _, _, result, _ = sine_run
    for record in result.history:
        assert record.mae is not None and record.val_mae is not None
        assert record.accuracy is None and record.val_accuracy is None
        assert set(record.grad_norms) == {"hidden_1", "hidden_2", "output"}
    # Epoch 0 is measured by us: its loss (mse) and mae agree with the model's predictions.
    first = result.history[0]
    assert first.loss >= first.mae**2  # mean of squares >= square of the mean


def test_fit_snapshots_are_the_curve_on_the_grid(sine_run):
    x, _, result, _ = sine_run
    snaps = {r.epoch: r.snapshot for r in result.history if r.snapshot is not None}
    assert sorted(snaps) == list(range(0, 101, 10))
    assert all(s.shape == (60,) and s.dtype == np.float32 for s in snaps.values())
    pad = 0.05 * np.ptp(x)
    assert result.extent == pytest.approx([x.min() - pad, x.max() + pad])
    assert result.resolution == 60
    grid = fit_points(result.extent, 60)
    np.testing.assert_allclose(snaps[100], result.model.predict_values(grid), atol=1e-4)
    inside = (grid[:, 0] > -2.9) & (grid[:, 0] < 2.9)
    assert np.max(np.abs(snaps[100][inside] - np.sin(grid[inside, 0]))) < 0.2  # it is the sine


def test_the_model_predicts_numbers_and_round_trips(sine_run):
    x, y, result, _ = sine_run
    model = MLPModel.from_bytes(result.model.to_bytes())
    assert model.regressor and model.classes == []
    values = model.predict(x)
    assert values.shape == (len(x),) and values.dtype == np.float64
    np.testing.assert_array_equal(values, result.model.predict_values(x))
    np.testing.assert_allclose(predict_values_batched(model, x, 37), values, atol=1e-5)
    keras = pytest.importorskip("keras")
    xn = model.normalizer.apply(x[:20]).astype(np.float32)
    ref = keras.ops.convert_to_numpy(result.keras_model(xn))[:, 0]
    np.testing.assert_allclose(values[:20], ref, atol=1e-5)
    with pytest.raises(ValueError, match="regressor"):
        model.predict_proba(x)
    with pytest.raises(ValueError, match="regressor"):
        predict_proba_batched(model, x, 10)


def test_analysis_of_a_regressor():
    x, _ = sine(50)
    analysis = mlp_analysis(x, [], SIN)
    assert analysis["n_params"] == param_count(SIN, 1, 0)
    assert analysis["snapshot_every"] == 10 and analysis["resolution"] == 60
    pad = 0.05 * np.ptp(x)  # as a classifier's boundary grid is padded
    assert analysis["extent"] == pytest.approx([x.min() - pad, x.max() + pad])
    assert "classes" not in analysis
    json.dumps(analysis)
    two = np.column_stack([x[:, 0], x[:, 0] ** 2])
    assert "extent" not in mlp_analysis(two, [], SIN)  # a curve needs one feature
    assert "extent" not in mlp_analysis(x, [], replace(SIN, snapshot_every=0))


def test_two_features_train_without_snapshots_and_mae_loss_is_the_mae():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 2))
    y = x[:, 0] - 2 * x[:, 1]
    config = replace(SIN, hidden_layers=(8,), epochs=3, loss="mae", validation_split=0.25)
    result = train_mlp(x, y, [], config)
    assert result.extent is None and all(r.snapshot is None for r in result.history)
    first = result.history[0]
    assert first.loss == pytest.approx(first.mae, rel=1e-12)
    assert first.val_loss == pytest.approx(first.val_mae, rel=1e-12)


def test_stratified_means_a_plain_seeded_split_for_numbers():
    y = np.linspace(0, 1, 50)
    train, val = split_rows(y, 0.2, "stratified", 7, stratify=False)
    assert len(val) == 10 and len(train) == 40
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(50))
    again = split_rows(y, 0.2, "stratified", 7, stratify=False)
    assert np.array_equal(val, again[1])
    assert not np.array_equal(val, np.arange(40, 50))  # not the tail
    tail = split_rows(y, 0.2, "tail", 7, stratify=False)[1]
    assert np.array_equal(tail, np.arange(40, 50))


def _stored(model: MLPModel) -> MLPModel:
    assert model.state is not None
    state = TrainingState.from_bytes(model.state.to_bytes())
    return replace(MLPModel.from_bytes(model.to_bytes()), state=state)


def test_a_resumed_regressor_equals_the_uninterrupted_one():
    x, y = sine(120)
    config = replace(SIN, hidden_layers=(6, 5), epochs=6, batch_size=17, snapshot_every=2,
                     weights="full")  # fmt: skip
    saved: dict[int, MLPModel] = {}
    full = train_mlp(x, y, [], config, on_model=saved.__setitem__)
    resumed = train_mlp(x, y, [], config, initial_model=_stored(saved[3]), start_epoch=3)
    assert [r.epoch for r in resumed.history] == [4, 5, 6]
    for ours, theirs in zip(resumed.history, full.history[4:], strict=True):
        for name in ("loss", "val_loss", "mae", "val_mae", "params", "grad_norms"):
            assert getattr(ours, name) == getattr(theirs, name), (ours.epoch, name)
        assert (ours.snapshot is None) == (theirs.snapshot is None)
        if ours.snapshot is not None:
            assert np.array_equal(ours.snapshot, theirs.snapshot)


def test_divergence_and_cancel_work_as_for_a_classifier():
    x, y = sine(60)
    wild = replace(SIN, hidden_layers=(4,), epochs=5, activation="linear", optimizer="sgd",
                   learning_rate=1e30)  # fmt: skip
    diverged = train_mlp(x, y, [], wild)
    assert diverged.status == "diverged" and [r.epoch for r in diverged.history] == [0]
    seen: list[EpochRecord] = []
    stopped = train_mlp(x, y, [], replace(SIN, hidden_layers=(4,), epochs=50),
                        on_epoch=seen.append, should_stop=lambda: len(seen) >= 2)  # fmt: skip
    assert stopped.status == "cancelled" and [r.epoch for r in stopped.history] == [0, 1]


@pytest.mark.parametrize(
    ("y", "classes", "error", "match"),
    [
        (np.array([0.0, np.nan, 1.0, 2.0]), [], InvalidData, "NaN"),
        (np.zeros(3), [], InvalidData, "shape"),
        (np.array(["a", "b", "c", "d"]), [], InvalidData, "numbers"),
        (np.zeros(4), [0, 1], ValueError, "no classes"),
    ],
)
def test_bad_targets_are_refused(y, classes, error, match):
    with pytest.raises(error, match=match):
        train_mlp(np.zeros((4, 1)), y, classes, replace(SIN, epochs=1))


@pytest.mark.parametrize(
    "changes",
    [{"loss": "binary_crossentropy"}, {"loss": "categorical_crossentropy"}, {"output": "sigmoid"},
     {"task": "ranking"}],
)  # fmt: skip
def test_a_regressor_refuses_a_classifier_s_head(changes):
    with pytest.raises(ValueError):
        replace(SIN, **changes)


def test_auto_head_of_a_regressor():
    assert SIN.output_for(0) == "linear" and SIN.loss_for(0) == "mse"
    assert replace(SIN, loss="mae").loss_for(0) == "mae"
