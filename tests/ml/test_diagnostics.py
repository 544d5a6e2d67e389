"""The diagnostics rules on crafted histories: each code found, once, with JSON-safe numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from descent_server.domain import Kind
from descent_server.ml.backprop import Network, dead_unit_shares
from descent_server.ml.diagnostics import Diagnostics, class_counts, feature_scales
from descent_server.ml.types import EpochRecord

UNIT = feature_scales(np.array([[0.0, 0.0], [1.0, 1.0]]))


def mlp(**kw) -> Diagnostics:
    """Return the Diagnostics of a normalized two-feature classifier with 20 epochs."""
    args = {"kind": Kind.MLP_CLASSIFIER, "n_features": 2, "epochs": 20,
            "feature_scales": UNIT, "normalize": "minmax"}  # fmt: skip
    return Diagnostics(**{**args, **kw})


def feed(diag: Diagnostics, records: list[EpochRecord]) -> list[dict]:
    """Observe every record; return every finding reported, in order."""
    return [f for r in records for f in diag.observe(r)]


def losses(values, val=None, **kw) -> list[EpochRecord]:
    """Return one record per loss (and val_loss) value, epochs 0, 1, ..."""
    val = val or [None] * len(values)
    return [EpochRecord(epoch=i, loss=v, val_loss=w, **kw)
            for i, (v, w) in enumerate(zip(values, val, strict=True))]  # fmt: skip


def codes(found: list[dict]) -> list[str]:
    return [f["code"] for f in found]


def test_a_healthy_curve_reports_nothing():
    curve = [1.1 * math.exp(-0.2 * i) + 0.05 for i in range(21)]
    val = [v * 1.05 for v in curve]
    grads = {"hidden_1": 0.1, "hidden_2": 0.2, "output": 0.15}
    records = losses(curve, val, grad_norms=grads, dead_units={"hidden_1": 0.25})
    assert feed(mlp(), records) == []


def test_diverging_is_raised_while_the_loss_is_still_finite():
    curve = [1.0, 0.8, 0.7, 0.75, 0.9, 1.2, 1.6, 2.5, 5.0]
    found = feed(mlp(), losses(curve))
    assert codes(found) == ["diverging"]
    hit = found[0]
    assert hit["severity"] == "error" and hit["epoch"] == 6
    assert hit["evidence"]["best_loss"] == 0.7 and hit["evidence"]["factor"] > 2


def test_one_huge_jump_is_diverging():
    found = feed(mlp(), losses([1.0, 0.9, 12.0]))
    assert codes(found) == ["diverging"] and found[0]["epoch"] == 2


def test_a_rate_above_lr_max_is_diverging_before_training():
    diag = Diagnostics(kind=Kind.LINEAR_REGRESSION, n_features=1, epochs=100,
                       feature_scales=UNIT[:1], normalize="standard",
                       learning_rate=1.3e-8, lr_max=1.28e-8)  # fmt: skip
    found = diag.observe(EpochRecord(epoch=0, loss=5.0, params={"a": 0.0, "b": 0.0}))
    assert codes(found) == ["diverging"]
    assert found[0]["hint"] == "learning_rate below 1.28e-08 (= 2/λ_max)"


def test_a_rate_between_1_and_2_over_lambda_is_only_info():
    diag = Diagnostics(kind=Kind.LINEAR_REGRESSION, n_features=1, epochs=100,
                       normalize="standard", learning_rate=0.9, lr_max=1.0)  # fmt: skip
    found = diag.observe(EpochRecord(epoch=0, loss=5.0))
    assert [(f["code"], f["severity"]) for f in found] == [("oscillating", "info")]


def test_oscillating_loss():
    curve = [1.1, 0.9, 0.5, 0.9, 0.45, 0.85, 0.4, 0.8, 0.42]
    found = feed(mlp(), losses(curve))
    assert "oscillating" in codes(found)
    assert next(f for f in found if f["code"] == "oscillating")["evidence"]["turns"] >= 4


def test_plateau_far_from_done():
    curve = [1.0986, 1.0980] + [1.0975] * 18
    found = feed(mlp(), losses(curve))
    assert codes(found) == ["plateau"]
    assert found[0]["evidence"]["done"] < 0.5


def test_a_converged_flat_tail_is_not_a_plateau():
    curve = [1.1, 0.5, 0.2, 0.1] + [0.09] * 30
    assert feed(mlp(epochs=34), losses(curve)) == []


def test_overfitting():
    train = [1.1 - 0.05 * i for i in range(20)]
    val = [1.1 - 0.08 * i for i in range(8)] + [0.5 + 0.08 * i for i in range(12)]
    found = feed(mlp(), losses(train, val))
    assert codes(found) == ["overfitting"]
    assert found[0]["evidence"]["gap"] > found[0]["evidence"]["gap_before"]


@pytest.mark.parametrize(
    ("norms", "code"),
    [
        ({"hidden_1": 1e-6, "hidden_2": 1e-4, "output": 0.1}, "vanishing_gradients"),
        ({"hidden_1": 50.0, "hidden_2": 1.0, "output": 0.1}, "exploding_gradients"),
    ],
)
def test_gradient_norm_ratios(norms, code):
    found = feed(mlp(), losses([1.1, 1.0, 0.9, 0.8], grad_norms=norms))
    assert codes(found) == [code]
    assert found[0]["epoch"] == 1  # two records in a row


def test_dead_units_severity_rises_and_is_reported_again():
    diag = mlp()
    records = [EpochRecord(epoch=0, loss=1.1, dead_units={"hidden_1": 0.95}),  # before training
               EpochRecord(epoch=1, loss=1.0, dead_units={"hidden_1": 0.6}),
               EpochRecord(epoch=2, loss=0.9, dead_units={"hidden_1": 0.7}),
               EpochRecord(epoch=3, loss=0.8, dead_units={"hidden_1": 0.95})]  # fmt: skip
    found = feed(diag, records)
    assert [(f["code"], f["severity"], f["epoch"]) for f in found] == [
        ("dead_units", "info", 1),
        ("dead_units", "warning", 2),
        ("dead_units", "error", 3),
    ]
    assert diag.findings == [found[-1]]


def test_unscaled_raw_features_and_the_bias_that_never_moves():
    x = np.array([[8759.0], [10132.0], [12078.0], [16430.0]])
    diag = Diagnostics(kind=Kind.LINEAR_REGRESSION, n_features=1, epochs=300,
                       feature_scales=feature_scales(x), feature_names=["want"])  # fmt: skip
    records = [EpochRecord(epoch=i, loss=1e8 / (i + 1) + 5e3,
                           params={"a": 0.06 * (1 - 0.5**i), "b": 1e-7 * i})
               for i in range(15)]  # fmt: skip
    found = feed(diag, records)
    assert [(f["code"], f["severity"], f["epoch"]) for f in found][:2] == [
        ("unscaled_features", "warning", 0),
        ("unscaled_features", "error", 10),
    ]
    assert found[0]["hint"] == 'normalize: "standard" (or "minmax")'
    assert found[0]["evidence"]["ratio"] == pytest.approx(16430.0)


def test_normalized_features_are_not_unscaled():
    x = np.array([[8759.0], [16430.0]])
    diag = Diagnostics(kind=Kind.LINEAR_REGRESSION, n_features=1, epochs=10,
                       feature_scales=feature_scales(x), normalize="standard")  # fmt: skip
    assert diag.observe(EpochRecord(epoch=0, loss=1.0)) == []


def test_tail_validation_of_sorted_classes_is_unrepresentative():
    labels = np.repeat([0, 1, 2], 1000)
    train = class_counts(labels[:2700], ["a", "b", "c"])
    val = class_counts(labels[2700:], ["a", "b", "c"])
    assert val == {"a": 0, "b": 0, "c": 300}
    found = mlp(train_classes=train, val_classes=val).observe(EpochRecord(epoch=0, loss=1.1))
    assert codes(found) == ["unrepresentative_validation"]
    assert found[0]["evidence"]["missing"] == 2


@pytest.mark.parametrize(("counts", "severity"),
                         [({"a": 100, "b": 40}, None), ({"a": 120, "b": 30}, "info"),
                          ({"a": 300, "b": 20}, "warning")])  # fmt: skip
def test_class_imbalance(counts, severity):
    found = mlp(train_classes=counts).observe(EpochRecord(epoch=0, loss=0.7))
    assert [f["severity"] for f in found] == ([] if severity is None else [severity])


def test_each_code_once_a_repeated_epoch_is_ignored_and_evidence_is_json_safe():
    diag = mlp()
    curve = [1.0, 0.9, 12.0, 30.0, 90.0]
    found = feed(diag, losses(curve))
    assert codes(found) == ["diverging"]
    assert diag.observe(EpochRecord(epoch=4, loss=1e9)) == []
    assert codes(diag.observe(EpochRecord(epoch=5, loss=float("nan")))) == []
    json.dumps(found, allow_nan=False)  # raises on NaN or infinity
    diverged = feed(mlp(), losses([1e300, 1e300, 1e308 * 10 / 10]))
    json.dumps(diverged, allow_nan=False)


def test_dead_unit_shares_match_a_direct_count():
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=(2, 6)), rng.normal(size=(6, 4)), rng.normal(size=(4, 3))]
    biases = [np.array([0, 0, 0, -50.0, 0, -50.0]), np.zeros(4), np.zeros(3)]
    x = rng.uniform(0, 1, (200, 2))
    net = Network(kernels, biases, "relu", "softmax")
    shares = dead_unit_shares(net, x)
    zs, _ = net.forward(x)
    expected = [np.mean([not np.any(z[:, j] > 0) for j in range(z.shape[1])]) for z in zs[:-1]]
    assert shares == pytest.approx(expected)
    assert shares[0] >= 2 / 6
    assert dead_unit_shares(Network(kernels, biases, "tanh", "softmax"), x) == []
