"""The diagnostics engine fed by real engine runs: each crafted failure is named, healthy runs
report nothing above info."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml.datasets import load_builtin
from descent_server.ml.diagnostics import mlp_diagnostics, regression_diagnostics
from descent_server.ml.mlp import MLPConfig, MLPModel, train_mlp
from descent_server.ml.mlp_model import Normalizer
from descent_server.ml.regression import RegressionConfig, analyze, train_regression

MOVIES = load_builtin("movies")
MOVIES_X, MOVIES_Y = MOVIES["num_want_to_see"][:, None], MOVIES["nums_audience"]
FAST = {"snapshot_every": 0, "seed": 0}


def blobs(n_per_class: int | None = 60) -> tuple[np.ndarray, np.ndarray]:
    """Return the course's three blobs, sorted by class (a head of each blob when n given)."""
    d = load_builtin("three-blobs")
    x, y = np.column_stack([d["x1"], d["x2"]]), d["label"].astype(np.int64)
    if n_per_class is None:
        return x, y
    rows = np.concatenate([np.arange(c * 1000, c * 1000 + n_per_class) for c in range(3)])
    return x[rows], y[rows]


def regression(config: RegressionConfig) -> tuple[list[dict], str, int]:
    """Train the course's movies regression; return (findings, status, last epoch)."""
    diag = regression_diagnostics(MOVIES_X, MOVIES_Y, config)
    found: list[dict] = []
    result = train_regression(MOVIES_X, MOVIES_Y, config, lambda r: found.extend(diag.observe(r)))
    return found, result.status, result.epochs_run


def mlp(x, y, config: MLPConfig, initial: MLPModel | None = None) -> list[dict]:
    """Train an MLP classifier; return what its Diagnostics reported."""
    classes = sorted(set(y.tolist()))
    diag = mlp_diagnostics(x, y, classes, config, config.seed or 0)
    found: list[dict] = []
    train_mlp(x, y, classes, config, lambda r: found.extend(diag.observe(r)),
              initial_model=initial)  # fmt: skip
    return found


def codes(found: list[dict]) -> set[str]:
    return {f["code"] for f in found}


def above_info(found: list[dict]) -> list[dict]:
    return [f for f in found if f["severity"] != "info"]


def test_course_regression_with_raw_features_is_unscaled():
    found, _, _ = regression(RegressionConfig(learning_rate=2e-10))
    unscaled = [f for f in found if f["code"] == "unscaled_features"]
    assert [f["severity"] for f in unscaled] == ["warning", "error"]
    assert unscaled[1]["evidence"]["bias_change"] < 1e-3 * unscaled[1]["evidence"]["weights_change"]
    assert "normalize" in unscaled[0]["hint"]


@pytest.mark.parametrize("normalize", ["none", "standard"])
def test_just_above_lr_max_is_diverging_before_the_run_ends(normalize):
    probe = RegressionConfig(normalize=normalize)
    lr_max = analyze(MOVIES_X, MOVIES_Y, probe).lr_max
    found, status, last = regression(RegressionConfig(learning_rate=1.02 * lr_max,
                                                      normalize=normalize))  # fmt: skip
    hits = [f for f in found if f["code"] in ("diverging", "oscillating")]
    assert hits and hits[0]["epoch"] < last
    assert status == "diverged"


def test_a_good_rate_reports_nothing_above_info():
    lr_max = analyze(MOVIES_X, MOVIES_Y, RegressionConfig(normalize="standard")).lr_max
    for share in (0.3, 0.9):
        config = RegressionConfig(learning_rate=share * lr_max, normalize="standard")
        found, status, _ = regression(config)
        assert status == "succeeded" and above_info(found) == []


def test_the_notebooks_tail_validation_is_unrepresentative():
    x, y = blobs(None)
    found = mlp(x, y, MLPConfig(validation="tail", epochs=0, **FAST))
    hit = next(f for f in found if f["code"] == "unrepresentative_validation")
    assert hit["epoch"] == 0 and hit["evidence"]["missing"] == 2


def test_a_deep_sigmoid_net_has_vanishing_gradients():
    x, y = blobs()
    config = MLPConfig(hidden_layers=(32,) * 8, activation="sigmoid", epochs=3, **FAST)
    hit = next(f for f in mlp(x, y, config) if f["code"] == "vanishing_gradients")
    assert hit["evidence"]["ratio"] < 1e-2


def test_relu_units_driven_dead_are_measured():
    x, y = blobs()
    rng = np.random.default_rng(0)
    sizes = [2, 40, 40, 3]
    kernels = [rng.uniform(-0.3, 0.3, (a, b)).astype(np.float32)
               for a, b in zip(sizes, sizes[1:], strict=False)]  # fmt: skip
    biases = [np.full(40, -5.0, np.float32), np.full(40, -5.0, np.float32),
              np.zeros(3, np.float32)]  # fmt: skip
    start = MLPModel(kernels, biases, "relu", "softmax", Normalizer.fit("minmax", x), [0, 1, 2])
    found = mlp(x, y, MLPConfig(hidden_layers=(40, 40), epochs=2, **FAST), initial=start)
    hit = next(f for f in found if f["code"] == "dead_units")
    assert hit["severity"] == "error" and hit["evidence"]["share"] == 1.0


def test_tiny_data_with_a_wide_net_overfits():
    from_rng = np.random.default_rng(3)
    x = from_rng.normal(size=(24, 6))
    y = (x[:, 0] + from_rng.normal(scale=1.5, size=24) > 0).astype(np.int64)  # mostly noise
    config = MLPConfig(hidden_layers=(256, 256), optimizer="adam", learning_rate=0.01,
                       epochs=80, batch_size=12, validation_split=0.5,
                       normalize="standard", **FAST)  # fmt: skip
    assert "overfitting" in codes(mlp(x, y, config))


def test_a_healthy_mlp_reports_nothing_above_info():
    x, y = blobs(100)
    config = MLPConfig(optimizer="adam", learning_rate=0.01, epochs=15, **FAST)
    assert above_info(mlp(x, y, config)) == []
