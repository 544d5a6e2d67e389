"""One feature check and one normaliser for every engine: same refusals, same maps."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml.checks import check_features, check_labels, check_targets
from descent_server.ml.normalize import Normalizer
from descent_server.ml.regression import feature_normalizer
from descent_server.ml.types import InvalidData


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((0, 1)), "at least 1 row"),
        (np.zeros((3, 0)), "2-D"),
        (np.zeros((3, 2, 1)), "2-D"),
        (np.array([[1.0], [np.inf]]), "NaN or infinite"),
        (np.array([["a"], ["b"]]), "numbers"),
    ],
)
def test_bad_features_are_refused_the_same_way_by_both_checks(x, match):
    with pytest.raises(InvalidData, match=match):
        check_targets(x, np.zeros(len(x)))
    with pytest.raises(InvalidData, match=match if len(x) >= 2 else "at least 2 row"):
        check_labels(x, np.arange(len(x)) % 2, [0, 1])


def test_one_dimensional_features_are_one_feature():
    features, target = check_targets([1, 2, 3], [4, 5, 6])
    assert features.shape == (3, 1) and features.dtype == np.float64
    assert target.tolist() == [4.0, 5.0, 6.0]
    assert check_features(np.ones((4, 2)), min_rows=4).shape == (4, 2)
    with pytest.raises(InvalidData, match="at least 5 row"):
        check_features(np.ones((4, 2)), min_rows=5)


def test_targets_and_labels_are_checked_for_what_each_needs():
    with pytest.raises(InvalidData, match="target contains NaN"):
        check_targets(np.ones((2, 1)), [1.0, np.nan])
    with pytest.raises(InvalidData, match="shape"):
        check_targets(np.ones((2, 1)), [1.0, 2.0, 3.0])
    features, labels = check_labels(np.ones((3, 2)), np.array([0, 1, 1]), ["a", "b"])
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("kind", ["minmax", "standard", "none"])
def test_the_normalizer_maps_features_and_linear_models_consistently(kind):
    rng = np.random.default_rng(2)
    x = rng.normal([5.0, -300.0, 0.0], [1.0, 50.0, 0.0], (40, 3))  # the last column is constant
    norm = Normalizer.fit(kind, x)
    xn = norm.apply(x)
    if kind == "minmax":
        assert xn[:, :2].min(axis=0) == pytest.approx([0, 0]) and xn[:, :2].max() == 1.0
    if kind == "standard":
        assert xn[:, :2].mean(axis=0) == pytest.approx([0, 0], abs=1e-12)
    assert np.all(xn[:, 2] == xn[0, 2])  # a constant column stays constant, never NaN
    w, b = np.array([0.5, -0.01, 3.0]), 7.0
    wn, bn = norm.to_normalized(w, b)
    np.testing.assert_allclose(xn @ wn + bn, x @ w + b, rtol=1e-12)
    W, B = norm.to_data(wn[None, :], np.array([bn]))
    np.testing.assert_allclose(W[0], w, rtol=1e-12)
    assert B[0] == pytest.approx(b, rel=1e-12)
    with pytest.raises(ValueError, match="normalize"):
        Normalizer.fit("robust", x)


def test_the_regression_skips_the_identity_map():
    assert feature_normalizer(np.ones((3, 1)), "none") is None
    norm = feature_normalizer(np.arange(6.0).reshape(3, 2), "minmax")
    assert norm is not None and norm.kind == "minmax"
