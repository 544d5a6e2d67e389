"""The Keras MLP engine: the course's networks train, every epoch is recorded, runs stop on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from descent_server.ml import mlp_recorder
from descent_server.ml.backprop import layer_norms
from descent_server.ml.mlp import (
    MLPConfig,
    MLPModel,
    mlp_analysis,
    param_count,
    snapshot_points,
    train_mlp,
)
from descent_server.ml.types import InvalidData

ROOT = Path(__file__).resolve().parents[2]


def three_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Return the course notebook's three blobs: 3 × 1000 points in [0, 100]², labels 0, 1, 2."""
    np.random.seed(100)
    x1 = [np.random.normal(25, 8, 1000), np.random.normal(80, 10, 1000)]
    x1.append(np.random.normal(50, 10, 1000))
    x2 = [np.random.normal(30, 8, 1000), np.random.normal(40, 10, 1000)]
    x2.append(np.random.normal(70, 10, 1000))
    x = np.column_stack([np.clip(np.concatenate(x1), 0, 100), np.clip(np.concatenate(x2), 0, 100)])
    return x, np.repeat([0, 1, 2], 1000)


def small_blobs(n_per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Return a class-balanced subset of the three blobs, for quick runs."""
    x, y = three_blobs()
    rows = np.concatenate([np.arange(c * 1000, c * 1000 + n_per_class) for c in range(3)])
    return x[rows], y[rows]


def tumors(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Return a course-like cancer table: (age, tumor_size) -> malignant 0/1."""
    rng = np.random.default_rng(7)
    age = rng.uniform(20, 80, n)
    size = rng.uniform(0.5, 10, n)
    label = (0.05 * age + 0.6 * size + rng.normal(0, 0.5, n) > 5.5).astype(int)
    return np.column_stack([age, size]), label


@pytest.fixture(scope="module")
def course_run():
    """The course's 2-40-40-3 softmax SGD net on three-blobs, 20 epochs, snapshot every epoch."""
    x, y = three_blobs()
    seen = []
    result = train_mlp(x, y, ["a", "b", "c"], MLPConfig(seed=100), on_epoch=seen.append)
    return x, y, result, seen


def test_course_net_learns_three_blobs(course_run):
    _, _, result, seen = course_run
    assert result.status == "succeeded"
    assert [r.epoch for r in seen] == list(range(21))
    assert seen == result.history
    assert result.history[-1].val_accuracy >= 0.9
    assert result.metrics["val_accuracy"] == result.history[-1].val_accuracy
    assert result.history[-1].loss < result.history[0].loss
    assert result.backend in {"tensorflow", "jax", "torch"}
    assert result.device == "cpu" or result.device.startswith("cuda")
    assert result.n_params == 2 * 40 + 40 + 40 * 40 + 40 + 40 * 3 + 3


def test_every_epoch_has_a_boundary_snapshot(course_run):
    _, _, result, _ = course_run
    snaps = [r.snapshot for r in result.history]
    assert all(s is not None and s.shape == (100, 100) and s.dtype == np.uint8 for s in snaps)
    assert result.resolution == 100
    assert len({s.tobytes() for s in snaps}) > 5  # the boundary moves as the net learns
    assert set(np.unique(snaps[-1])) == {0, 1, 2}


def test_snapshot_is_the_models_prediction_rows_x2_columns_x1(course_run):
    x, _, result, _ = course_run
    x1min, x1max, x2min, x2max = result.extent
    assert x1min < x[:, 0].min() and x1max > x[:, 0].max()
    assert x2min < x[:, 1].min() and x2max > x[:, 1].max()
    grid = result.model.predict(snapshot_points(result.extent, 100)).reshape(100, 100)
    assert np.mean(grid == result.history[-1].snapshot) > 0.999  # float32 vs float64 ties
    # Bottom-left is blob "a" (x1≈25, x2≈30); right is "b" (x1≈80); top is "c" (x2≈70).
    assert grid[25, 20] == 0 and grid[35, 80] == 1 and grid[75, 45] == 2


def test_history_carries_per_layer_norms(course_run):
    _, _, result, _ = course_run
    for record in result.history:
        assert set(record.weight_norms) == {"hidden_1", "hidden_2", "output"}
        assert set(record.grad_norms) == {"hidden_1", "hidden_2", "output"}
        assert all(v > 0 for v in record.grad_norms.values())
        assert record.params == {}
    first, last = result.history[0], result.history[-1]
    assert last.grad_norms != first.grad_norms and last.weight_norms != first.weight_norms
    norms = layer_norms(result.model.kernels, result.model.biases)
    assert list(last.weight_norms.values()) == pytest.approx(norms, rel=1e-12)


def test_model_serialises_without_pickle_and_predicts_like_keras(course_run):
    x, y, result, _ = course_run
    model = MLPModel.from_bytes(result.model.to_bytes())
    assert model.classes == ["a", "b", "c"]
    proba = model.predict_proba(x[::50])
    keras = pytest.importorskip("keras")
    xn = result.model.normalizer.apply(x[::50]).astype(np.float32)
    ref = keras.ops.convert_to_numpy(result.keras_model(xn))
    np.testing.assert_allclose(proba, ref, atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(model.predict(x) == y) > 0.9


def test_same_seed_gives_the_same_history():
    x, y = small_blobs()
    config = MLPConfig(seed=5, epochs=3, snapshot_resolution=20, optimizer="adam")
    a = train_mlp(x, y, [0, 1, 2], config).history
    b = train_mlp(x, y, [0, 1, 2], config).history
    for ra, rb in zip(a, b, strict=True):
        assert (ra.loss, ra.val_loss, ra.accuracy, ra.val_accuracy) == (
            rb.loss,
            rb.val_loss,
            rb.accuracy,
            rb.val_accuracy,
        )
        assert ra.weight_norms == rb.weight_norms and ra.grad_norms == rb.grad_norms
        assert np.array_equal(ra.snapshot, rb.snapshot)


def test_should_stop_ends_training_within_one_epoch():
    x, y = small_blobs()
    seen = []
    result = train_mlp(
        x, y, [0, 1, 2], MLPConfig(seed=1, epochs=50), on_epoch=seen.append,
        should_stop=lambda: len(seen) >= 3,
    )  # fmt: skip
    assert result.status == "cancelled"
    assert [r.epoch for r in result.history] == [0, 1, 2]
    assert result.epochs_run == 2


def test_stop_before_the_first_epoch_keeps_epoch_zero():
    x, y = small_blobs()
    result = train_mlp(x, y, [0, 1, 2], MLPConfig(seed=1), should_stop=lambda: True)
    assert result.status == "cancelled"
    assert [r.epoch for r in result.history] == [0]


def test_resume_continues_from_saved_weights():
    x, y = small_blobs()
    config = MLPConfig(seed=2, epochs=4, optimizer="adam")
    saved = []
    first = train_mlp(x, y, [0, 1, 2], config, on_model=lambda e, m: saved.append((e, m)))
    assert [e for e, _ in saved] == [0, 1, 2, 3, 4]
    epoch, model = saved[2]
    resumed = train_mlp(x, y, [0, 1, 2], config, initial_model=model, start_epoch=epoch)
    assert [r.epoch for r in resumed.history] == [3, 4]
    assert resumed.status == "succeeded"
    # The saved model carries Adam's state: the resumed epochs are the first run's own
    # (tests/ml/test_mlp_resume.py checks every number).
    assert [r.loss for r in resumed.history] == [r.loss for r in first.history[3:]]
    # A run that crashed after saving its last epoch: nothing left to train, the model stands.
    done = train_mlp(x, y, [0, 1, 2], config, initial_model=saved[4][1], start_epoch=4)
    assert done.status == "succeeded" and done.history == [] and done.epochs_run == 4
    np.testing.assert_array_equal(done.model.kernels[0], saved[4][1].kernels[0])
    with pytest.raises(ValueError, match="initial_model"):
        train_mlp(x, y, [0, 1, 2], config, start_epoch=2)


def test_course_2_3_3_1_sigmoid_net_with_mse_trains_on_tumors():
    x, y = tumors()
    config = MLPConfig(
        hidden_layers=(3, 3), output="sigmoid", loss="mse", optimizer="adam",
        learning_rate=0.05, epochs=15, seed=3,
    )  # fmt: skip
    result = train_mlp(x, y, [0, 1], config)
    assert result.status == "succeeded"
    assert [w.shape for w in result.model.kernels] == [(2, 3), (3, 3), (3, 1)]
    assert result.history[-1].loss < 0.6 * result.history[0].loss
    assert result.history[-1].val_accuracy > 0.8
    assert result.model.predict_proba(x[:5]).shape == (5, 2)
    assert result.history[-1].snapshot.max() <= 1


def test_weights_full_records_every_weight():
    x, y = small_blobs(30)
    result = train_mlp(
        x, y, [0, 1, 2], MLPConfig(hidden_layers=(4,), epochs=2, seed=1, weights="full")
    )
    params = result.history[-1].params
    assert set(params) == {"hidden_1/kernel", "hidden_1/bias", "output/kernel", "output/bias"}
    assert np.array(params["hidden_1/kernel"]).shape == (2, 4)
    np.testing.assert_allclose(params["output/bias"], result.model.biases[1])


def test_tail_validation_takes_the_last_rows_like_keras():
    x, y = small_blobs()  # sorted by class: the last 10% are all class 2
    result = train_mlp(x, y, [0, 1, 2], MLPConfig(epochs=1, seed=1, validation="tail"))
    always_two = MLPConfig(epochs=0, seed=1, validation="tail")
    assert result.history[0].val_accuracy in {0.0, 1.0}  # one class: all right or all wrong
    assert train_mlp(x, y, [0, 1, 2], always_two).history[0].val_loss is not None


def test_no_validation_and_no_snapshots_for_one_feature():
    # Two features are drawn as they are, more on a PCA plane (test_projection); one has none.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 1))
    y = (x[:, 0] > 0).astype(int)
    result = train_mlp(x, y, ["no", "yes"], MLPConfig(epochs=2, seed=1, validation_split=0))
    assert result.extent is None and result.resolution is None
    assert all(r.snapshot is None and r.val_loss is None for r in result.history)
    assert "extent" not in mlp_analysis(x, ["no", "yes"], MLPConfig())


def test_big_work_goes_through_the_backend_with_the_same_numbers(monkeypatch):
    x, y = small_blobs(60)
    config = MLPConfig(epochs=2, seed=4, snapshot_resolution=30)
    small = train_mlp(x, y, [0, 1, 2], config).history
    monkeypatch.setattr(mlp_recorder, "NUMPY_FORWARD_WORK", 0)  # every forward pass on Keras
    big = train_mlp(x, y, [0, 1, 2], config).history
    for a, b in zip(small, big, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-5)
        assert a.val_accuracy == b.val_accuracy
        assert np.mean(a.snapshot == b.snapshot) > 0.995


def test_snapshot_every_n_epochs_and_the_last():
    x, y = small_blobs(30)
    cfg = MLPConfig(epochs=5, seed=1, snapshot_every=2, snapshot_resolution=10)
    result = train_mlp(x, y, [0, 1, 2], cfg)
    assert [r.epoch for r in result.history if r.snapshot is not None] == [0, 2, 4, 5]


def test_divergence_stops_with_the_finite_history():
    x, y = small_blobs(30)
    # An absurd step: after the first batch the weights overflow float32 and the loss is NaN.
    cfg = MLPConfig(epochs=5, seed=1, activation="linear", learning_rate=1e30)
    result = train_mlp(x, y, [0, 1, 2], cfg)
    assert result.status == "diverged"
    assert [r.epoch for r in result.history] == [0]
    assert all(np.all(np.isfinite(k)) for k in result.model.kernels)


def test_a_loss_grown_past_the_bound_counts_as_diverged(monkeypatch):
    # The real bound is 1e6 × the first loss, reachable only where the backend computes
    # cross-entropy from logits (TensorFlow); JAX clips probabilities, so lower the bound.
    monkeypatch.setattr(mlp_recorder, "DIVERGENCE_FACTOR", 2.0)
    x, y = small_blobs(30)
    cfg = MLPConfig(epochs=5, seed=1, activation="tanh", normalize="none", learning_rate=1e8)
    result = train_mlp(x, y, [0, 1, 2], cfg)
    assert result.status == "diverged"
    assert all(r.loss <= 2.0 * result.history[0].loss for r in result.history)


@pytest.mark.parametrize(
    ("x", "y", "classes", "match"),
    [
        (np.zeros((5, 2)), np.zeros(5), [0, 1], "one class"),
        (np.zeros((5, 2, 1)), np.array([0, 1, 0, 1, 0]), [0, 1], "2-D"),
        (np.zeros((5, 2)), np.array([0, 1, 0, 1]), [0, 1], "shape"),
        (np.array([[0.0, np.nan]] * 4), np.array([0, 1, 0, 1]), [0, 1], "NaN"),
        (np.zeros((4, 2)), np.array([0, 1, 2, 1]), [0, 1], "class indices"),
        (np.zeros((4, 2)), np.array([0, 0.5, 1, 1]), [0, 1], "class indices"),
        (np.zeros((4, 2)), np.array([0, 0, 0, 0]), [0], "two classes"),
        (np.array([["a", "b"]] * 4), np.array([0, 1, 0, 1]), [0, 1], "numbers"),
    ],
)
def test_invalid_data_is_refused(x, y, classes, match):
    with pytest.raises(InvalidData, match=match):
        train_mlp(x, y, classes, MLPConfig(epochs=1))


@pytest.mark.parametrize(
    "config",
    [
        {"activation": "mish"},
        {"optimizer": "lbfgs"},
        {"epochs": -1},
        {"validation_split": 1.0},
        {"snapshot_resolution": 1},
        {"output": "sigmoid", "loss": "categorical_crossentropy"},
        {"output": "softmax", "loss": "binary_crossentropy"},
        {"output": "linear"},  # a classifier's output gives probabilities
        {"loss": "mae"},
    ],
)
def test_bad_configs_are_refused(config):
    with pytest.raises(ValueError):
        MLPConfig(**config)


def test_auto_output_and_loss_follow_the_classes():
    assert MLPConfig().output_for(3) == "softmax"
    assert MLPConfig().loss_for(3) == "categorical_crossentropy"
    assert MLPConfig().output_for(2) == "sigmoid"
    assert MLPConfig().loss_for(2) == "binary_crossentropy"
    assert MLPConfig(loss="categorical_crossentropy").output_for(2) == "softmax"
    assert MLPConfig(loss="mse").output_for(2) == "sigmoid"


def test_analysis_before_training():
    x, _ = small_blobs(10)
    analysis = mlp_analysis(x, list(np.array([0, 1, 2])), MLPConfig())
    assert analysis["n_params"] == 1883 and analysis["resolution"] == 100
    assert analysis["classes"] == [0, 1, 2] and len(analysis["extent"]) == 4
    json.dumps(analysis)  # numpy class names became plain numbers


@pytest.mark.parametrize(
    ("config", "n_classes", "n_outputs"),
    [
        (MLPConfig(), 3, 3),
        (MLPConfig(), 2, 1),  # one sigmoid unit
        (MLPConfig(loss="categorical_crossentropy"), 2, 2),  # softmax over two units
        (MLPConfig(output="softmax", loss="mse"), 2, 2),
        (MLPConfig(task="regression"), 0, 1),
    ],
)
def test_param_count_is_what_the_engine_builds(config, n_classes, n_outputs):
    assert param_count(config, 2, n_classes) == 2 * 40 + 40 + 40 * 40 + 40 + 41 * n_outputs
    x, y = small_blobs(10)
    if n_classes == 2:
        y = (y > 0).astype(int)
    result = train_mlp(x, y, list(range(n_classes)), replace(config, epochs=0, seed=1))
    assert result.n_params == result.model.n_params == param_count(config, 2, n_classes)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **env},
    )  # fmt: skip


def test_importing_the_engine_does_not_import_keras():
    proc = _run(
        "import sys, descent_server.ml.mlp, descent_server.ml.backprop\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


JAX_SCRIPT = """
import json, sys
sys.path.insert(0, "tests/ml")
from test_mlp import small_blobs
from descent_server.ml.mlp import MLPConfig, train_mlp
x, y = small_blobs(200)
config = MLPConfig(seed=100, epochs=5, optimizer="adam")
r = train_mlp(x, y, [0, 1, 2], config)
r2 = train_mlp(x, y, [0, 1, 2], config)
print(json.dumps({"backend": r.backend, "device": r.device, "status": r.status,
                  "val_accuracy": r.history[-1].val_accuracy, "snapshots":
                  sum(h.snapshot is not None for h in r.history),
                  "same": [h.loss for h in r.history] == [h.loss for h in r2.history],
                  "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def test_the_same_engine_runs_on_jax():
    pytest.importorskip("jax")
    proc = _run(JAX_SCRIPT, KERAS_BACKEND="jax")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax" and out["status"] == "succeeded"
    assert out["snapshots"] == 6 and out["same"]
    assert not out["tensorflow_loaded"]  # a JAX worker does not pay for TensorFlow
    assert out["val_accuracy"] >= 0.9
