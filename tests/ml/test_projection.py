"""The PCA plane: components checked against an SVD, and iris's boundary film drawn on it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from descent_server.ml import plots
from descent_server.ml.datasets import load_builtin
from descent_server.ml.mlp import MLPConfig, mlp_analysis, snapshot_points, train_mlp
from descent_server.ml.normalize import Normalizer
from descent_server.ml.projection import PCAPlane, pca_axis_labels
from tests.ml.plot_helpers import decode

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return iris's four features, class indices and class names."""
    data = load_builtin("iris")
    classes, y = np.unique(data["species"], return_inverse=True)
    return np.column_stack([data[c] for c in IRIS_FEATURES]), y, list(classes)


def correlated(n: int = 500, d: int = 5, seed: int = 0) -> np.ndarray:
    """Return rows with very unequal variances along tilted directions."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return rng.normal(size=(n, d)) * np.geomspace(10, 0.1, d) @ basis.T + rng.normal(size=d)


def test_plane_is_the_first_two_right_singular_vectors():
    x = correlated()
    plane = PCAPlane.fit(x, Normalizer.fit("none", x))
    _, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(plane.mean, x.mean(axis=0), atol=1e-12)
    for component, reference in zip(plane.components, vt[:2], strict=True):
        assert abs(component @ reference) == pytest.approx(1.0, abs=1e-9)  # same up to sign
    np.testing.assert_allclose(plane.explained_variance_ratio, s[:2] ** 2 / (s**2).sum(), 1e-9)
    np.testing.assert_allclose(plane.components @ plane.components.T, np.eye(2), atol=1e-12)


def test_plane_agrees_with_scikit_learn():
    from sklearn import decomposition

    x, _, _ = iris()
    xn = Normalizer.fit("minmax", x).apply(x)
    reference = decomposition.PCA(n_components=2).fit(xn)
    plane = PCAPlane.fit(xn, Normalizer.fit("minmax", x))
    np.testing.assert_allclose(
        plane.explained_variance_ratio, reference.explained_variance_ratio_, rtol=1e-9
    )
    np.testing.assert_allclose(
        np.abs(plane.project(xn)), np.abs(reference.transform(xn)), atol=1e-9
    )


def test_signs_are_fixed_by_the_largest_loading():
    x = correlated(seed=3)
    plane = PCAPlane.fit(x, Normalizer.fit("none", x))
    flipped = PCAPlane.fit(-x, Normalizer.fit("none", -x))
    for component in (*plane.components, *flipped.components):
        assert component[np.argmax(np.abs(component))] > 0
    # -x has the same covariance: the same components, signs included.
    np.testing.assert_allclose(flipped.components, plane.components, atol=1e-9)


def test_lift_and_project_are_inverse_on_the_plane():
    x = correlated()
    normalizer = Normalizer.fit("standard", x)
    plane = PCAPlane.fit(normalizer.apply(x), normalizer)
    uv = np.random.default_rng(1).normal(size=(50, 2))
    np.testing.assert_allclose(plane.project(plane.lift(uv)), uv, atol=1e-10)
    np.testing.assert_allclose(plane.project_raw(x), plane.project(normalizer.apply(x)), 1e-12)
    # The mean sits at the origin of the plane; the projections have the variances PCA says.
    assert np.allclose(plane.project_raw(x).mean(axis=0), 0, atol=1e-10)
    total = normalizer.apply(x).var(axis=0).sum()
    np.testing.assert_allclose(
        plane.project_raw(x).var(axis=0) / total, plane.explained_variance_ratio, rtol=1e-9
    )


def test_dict_round_trip_and_axis_labels():
    x, _, _ = iris()
    normalizer = Normalizer.fit("minmax", x)
    plane = PCAPlane.fit(normalizer.apply(x), normalizer)
    data = json.loads(json.dumps(plane.to_dict()))
    assert data["kind"] == "pca" and len(data["components"]) == 2
    again = PCAPlane.from_dict(data)
    np.testing.assert_allclose(again.project_raw(x), plane.project_raw(x), atol=1e-12)
    first, second = plane.axis_labels()
    assert first == f"PC1 ({100 * plane.explained_variance_ratio[0]:.0f}% of variance)"
    assert second.startswith("PC2 (") and second.endswith("% of variance)")
    assert pca_axis_labels([0.7312, 0.0049]) == ("PC1 (73% of variance)", "PC2 (0.5% of variance)")
    with pytest.raises(ValueError):
        PCAPlane.from_dict({**data, "kind": "tsne"})
    with pytest.raises(ValueError):
        PCAPlane.fit(x[:1], normalizer)


@pytest.fixture(scope="module")
def iris_run():
    """Iris, all four features, a few epochs with a snapshot every epoch."""
    x, y, classes = iris()
    config = MLPConfig(
        hidden_layers=(16,), optimizer="adam", learning_rate=0.05, batch_size=16, epochs=30,
        seed=3, snapshot_every=1, snapshot_resolution=60,
    )  # fmt: skip
    return x, y, classes, config, train_mlp(x, y, classes, config)


def test_iris_snapshots_lie_on_the_pca_plane(iris_run):
    x, y, classes, config, result = iris_run
    analysis = mlp_analysis(x, classes, config)
    assert analysis["projection"] == result.projection
    assert analysis["extent"] == result.extent and len(result.extent) == 4
    plane = PCAPlane.from_dict(result.projection)
    grids = [r.snapshot for r in result.history]
    assert all(g is not None and g.shape == (60, 60) and g.dtype == np.uint8 for g in grids)
    # The last grid is the trained model's class at each plane point taken back to raw data.
    uv = snapshot_points(result.extent, 60)
    raw = plane.lift(uv) * plane.scale + plane.offset
    np.testing.assert_array_equal(grids[-1].ravel(), result.model.predict(raw))
    # The data's projections fall inside the extent, and the regions are the trained ones.
    on_plane = plane.project_raw(x)
    u0, u1, v0, v1 = result.extent
    assert (on_plane[:, 0] > u0).all() and (on_plane[:, 0] < u1).all()
    assert (on_plane[:, 1] > v0).all() and (on_plane[:, 1] < v1).all()
    assert set(np.unique(grids[-1])) == {0, 1, 2}
    assert result.history[-1].accuracy > 0.9


def test_iris_boundary_png_and_gif_on_the_plane(iris_run):
    x, y, classes, _, result = iris_run
    grids = [r.snapshot for r in result.history]
    png = plots.boundary_plot(
        grids[-1], result.extent, classes, x, y, result.history[-1].epoch,
        projection=result.projection,
    )  # fmt: skip
    assert decode(png).size == (800, 600)
    if os.environ.get("DESCENT_SAVE_PICTURES"):  # to look at it
        with open("/tmp/iris-boundary.png", "wb") as f:
            f.write(png)
    gif = plots.boundary_gif(
        grids, [r.epoch for r in result.history], result.extent, classes, x, y,
        width=480, height=360, projection=result.projection,
    )  # fmt: skip
    assert decode(gif, "GIF").n_frames == len(grids)
    with pytest.raises(ValueError, match="projection"):
        plots.boundary_plot(grids[-1], result.extent, classes, x, y)
