"""The built-in data sets equal what the course notebook's own code draws."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.domain import Kind
from descent_server.ml.datasets import BUILTINS, LINEAR_NOISE_SEED, load_builtin


@pytest.fixture
def global_rng_restored():
    """Let a test reseed numpy's global generator, as the notebook does, then undo it."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def notebook_three_blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's cells, verbatim but for the names (global seeding, np.where clipping)."""
    np.random.seed(100)
    X1_1 = np.random.normal(25, 8, 1000)
    X1_2 = np.random.normal(80, 10, 1000)
    X1_3 = np.random.normal(50, 10, 1000)
    X2_1 = np.random.normal(30, 8, 1000)
    X2_2 = np.random.normal(40, 10, 1000)
    X2_3 = np.random.normal(70, 10, 1000)
    X1_1 = np.where(X1_1 > 100, 100, X1_1)
    X1_2 = np.where(X1_2 > 100, 100, X1_2)
    X1_3 = np.where(X1_3 > 100, 100, X1_3)
    X2_1 = np.where(X2_1 > 100, 100, X2_1)
    X2_2 = np.where(X2_2 > 100, 100, X2_2)
    X2_3 = np.where(X2_3 > 100, 100, X2_3)
    X1_1 = np.where(X1_1 <= 0, 0, X1_1)
    X1_2 = np.where(X1_2 <= 0, 0, X1_2)
    X1_3 = np.where(X1_3 <= 0, 0, X1_3)
    X2_1 = np.where(X2_1 <= 0, 0, X2_1)
    X2_2 = np.where(X2_2 <= 0, 0, X2_2)
    X2_3 = np.where(X2_3 <= 0, 0, X2_3)
    Y_1 = np.full_like(X1_1, 0)
    Y_2 = np.full_like(X1_2, 1)
    Y_3 = np.full_like(X1_3, 2)
    X1 = np.concatenate([X1_1, X1_2, X1_3])
    X2 = np.concatenate([X2_1, X2_2, X2_3])
    Y = np.concatenate([Y_1, Y_2, Y_3])
    return X1, X2, Y


def test_three_blobs_equals_the_notebook_draws(global_rng_restored):
    data = load_builtin("three-blobs")
    x1, x2, label = notebook_three_blobs()
    np.testing.assert_array_equal(data["x1"], x1)
    np.testing.assert_array_equal(data["x2"], x2)
    np.testing.assert_array_equal(data["label"], label)


def test_three_blobs_shape_and_values():
    data = load_builtin("three-blobs")
    assert set(data) == {"x1", "x2", "label"}
    for column in data.values():
        assert column.dtype == np.float64 and column.shape == (3000,)
    assert data["x1"].min() >= 0 and data["x2"].max() <= 100
    assert np.array_equal(np.unique(data["label"]), [0.0, 1.0, 2.0])
    assert np.array_equal(np.bincount(data["label"].astype(int)), [1000, 1000, 1000])
    # Known anchors of seed 100: the first draw is 25 + 8 * -1.7497654730546974.
    assert data["x1"][0] == pytest.approx(25 + 8 * -1.7497654730546974, abs=1e-12)
    # The clip is real: a few points of the 80 ± 10 blob land past 100.
    assert (data["x1"] == 100).sum() > 0


def test_linear_noise_equals_the_notebook_code_under_its_documented_seed(global_rng_restored):
    data = load_builtin("linear-noise")
    np.random.seed(LINEAR_NOISE_SEED)
    x = np.random.uniform(0, 10, 30)
    y_lr = 0.5 * x + 2
    y = y_lr + np.random.normal(0, 0.5, size=30)
    np.testing.assert_array_equal(data["x"], x)
    np.testing.assert_array_equal(data["y"], y)
    residual = data["y"] - (0.5 * data["x"] + 2)
    assert np.abs(residual).max() < 2.5  # N(0, 0.5) noise, 30 draws


def test_movies_is_the_course_table():
    data = load_builtin("movies")
    np.testing.assert_array_equal(data["num_want_to_see"], [8759, 10132, 12078, 16430])
    np.testing.assert_array_equal(data["nums_audience"], [487, 612, 866, 1030])
    assert data["num_want_to_see"].dtype == np.float64
    assert list(data["title"]) == ["The Martian", "Kingsman", "Captain America", "Interstellar"]
    # The course's least-squares line predicts about 758 (10k people) for 12,008.
    a, b = np.polyfit(data["num_want_to_see"], data["nums_audience"], 1)
    assert 700 < a * 12008 + b < 800


def test_loading_leaves_numpy_global_state_alone():
    before = np.random.get_state()[1].copy()
    for name in BUILTINS:
        load_builtin(name)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_catalogue_matches_the_data(name):
    meta = BUILTINS[name]
    data = load_builtin(name)
    assert meta.name == name
    assert meta.kind in set(Kind)
    for column in meta.features:
        assert data[column].dtype == np.float64
        assert data[column].shape == (meta.n_rows,)
        assert np.isfinite(data[column]).all()
    target = data[meta.target]
    assert target.shape == (meta.n_rows,)
    if target.dtype.kind == "U":  # class names (iris's species) suit a classifier only
        assert meta.kind == Kind.MLP_CLASSIFIER
    else:
        assert target.dtype == np.float64 and np.isfinite(target).all()
    assert meta.description


def test_each_load_returns_fresh_arrays():
    first = load_builtin("movies")
    first["nums_audience"][0] = -1
    assert load_builtin("movies")["nums_audience"][0] == 487


def test_unknown_builtin_raises_key_error():
    with pytest.raises(KeyError, match="unknown builtin"):
        load_builtin("mnist")


def test_iris_is_fishers_table():
    data = load_builtin("iris")
    features = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert list(data) == [*features, "species"]
    species, counts = np.unique(data["species"], return_counts=True)
    assert list(species) == ["setosa", "versicolor", "virginica"] and list(counts) == [50] * 3
    # Fisher's (1936) means per feature, in cm, and the first and last flowers.
    means = [data[name].mean() for name in features]
    np.testing.assert_allclose(means, [5.8433, 3.0573, 3.7580, 1.1993], atol=1e-4)
    assert [data[name][0] for name in features] == [5.1, 3.5, 1.4, 0.2]
    assert [data[name][-1] for name in features] == [5.9, 3.0, 5.1, 1.8]
    assert data["species"][0] == "setosa" and data["species"][-1] == "virginica"


def test_iris_equals_scikit_learns_copy():
    from sklearn import datasets

    reference = datasets.load_iris()
    data = load_builtin("iris")
    columns = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    np.testing.assert_array_equal(np.column_stack([data[c] for c in columns]), reference.data)
    np.testing.assert_array_equal(data["species"], reference.target_names[reference.target])
