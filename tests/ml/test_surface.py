"""Loss surface: the course's grid search, checked against the notebook's own pair loop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from descent_server.ml.surface import default_axes, loss_surface, surface_from_spec
from descent_server.ml.types import InvalidData

MOVIES_X = np.array([8759.0, 10132.0, 12078.0, 16430.0])
MOVIES_Y = np.array([487.0, 612.0, 866.0, 1030.0])


def notebook_grid_search() -> tuple[np.ndarray, np.ndarray]:
    """Run the notebook's grid-search cells: every (a, b) pair, pandas Series and all."""
    x, y = pd.Series(MOVIES_X), pd.Series(MOVIES_Y)

    def mse(x, y, a, b):
        return ((a * x + b - y) ** 2).mean()

    a_case = np.linspace(-1, 1, 100)
    b_case = np.linspace(-1000, 1000, 100)
    a_b_cases = np.stack(np.meshgrid(a_case, b_case), axis=-1).reshape(-1, 2)
    losses = np.array([mse(x, y, a, b) for a, b in a_b_cases])
    return a_b_cases, losses


def test_course_grid_gives_the_notebook_optimum() -> None:
    surface = loss_surface(
        MOVIES_X, MOVIES_Y, np.linspace(-1, 1, 100), np.linspace(-1000, 1000, 100)
    )
    best = surface.grid_optimum
    assert best["a"] == pytest.approx(0.0707070707, rel=1e-9)
    assert best["b"] == pytest.approx(-90.9090909, rel=1e-9)
    assert best["a"] * 12008 + best["b"] == pytest.approx(758.1414141, rel=1e-9)

    cases, losses = notebook_grid_search()
    np.testing.assert_allclose(surface.loss.ravel(), losses, rtol=1e-12)
    assert [best["a"], best["b"]] == cases[np.argmin(losses)].tolist()
    assert best["loss"] == pytest.approx(losses.min(), rel=1e-12)


def test_optimum_is_least_squares() -> None:
    surface = loss_surface(MOVIES_X, MOVIES_Y, [0.0, 0.1], [-100.0, 0.0])
    a, b = np.polyfit(MOVIES_X, MOVIES_Y, 1)
    assert surface.optimum["a"] == pytest.approx(a, rel=1e-12)
    assert surface.optimum["b"] == pytest.approx(b, rel=1e-10)
    err = a * MOVIES_X + b - MOVIES_Y
    assert surface.optimum["loss"] == pytest.approx(err @ err / 4, rel=1e-12)


def test_rows_are_b_and_columns_are_a() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, 500)
    y = 0.5 * x + 2 + rng.normal(0, 1, 500)
    a_values, b_values = np.linspace(0, 1, 7), np.linspace(-5, 5, 3)
    surface = loss_surface(x, y, a_values, b_values)
    assert surface.loss.shape == (3, 7)
    for i, b in enumerate(b_values):
        for j, a in enumerate(a_values):
            err = a * x + b - y
            assert surface.loss[i, j] == pytest.approx(err @ err / x.size, rel=1e-12)


def test_default_axes_are_centred_on_the_optimum_and_cover_given_points() -> None:
    a_values, b_values = default_axes(MOVIES_X, MOVIES_Y, n=101)
    surface = loss_surface(MOVIES_X, MOVIES_Y, a_values, b_values)
    assert len(a_values) == len(b_values) == 101
    assert a_values[50] == pytest.approx(surface.optimum["a"], rel=1e-12)
    assert b_values[50] == pytest.approx(surface.optimum["b"], rel=1e-12)
    assert surface.grid_optimum["loss"] == pytest.approx(surface.optimum["loss"], rel=1e-12)
    # The bowl is visible: the rim rises well above the minimum.
    assert surface.loss.max() > 10 * surface.optimum["loss"]

    a_values, b_values = default_axes(MOVIES_X, MOVIES_Y, include=[(-0.75, -100.0), (2.0, 5e3)])
    assert a_values[0] <= -0.75 and a_values[-1] >= 2.0
    assert b_values[-1] >= 5e3


def test_default_axes_for_data_on_a_line() -> None:
    x = np.array([0.0, 1.0, 2.0])
    a_values, b_values = default_axes(x, 2 * x + 1, n=5)
    assert a_values[2] == pytest.approx(2.0) and b_values[2] == pytest.approx(1.0)
    assert a_values[0] < a_values[-1] and b_values[0] < b_values[-1]
    a_values, b_values = default_axes(x, np.full(3, 4.0), n=5)
    assert a_values[0] < a_values[-1] and b_values[0] < b_values[-1]


def test_surface_from_spec_and_default() -> None:
    spec = {"a": [-1, 1, 100], "b": [-1000, 1000, 100]}
    surface = surface_from_spec(MOVIES_X, MOVIES_Y, spec)
    assert surface.grid_optimum["a"] == pytest.approx(0.0707070707, rel=1e-9)
    default = surface_from_spec(MOVIES_X, MOVIES_Y, None)
    assert default.loss.shape == (100, 100)


@pytest.mark.parametrize(
    "spec",
    [
        {"a": [-1, 1, 100]},
        {"a": [1, -1, 10], "b": [0, 1, 10]},
        {"a": [-1, 1, 1], "b": [0, 1, 10]},
        {"a": [-1, 1, 10.5], "b": [0, 1, 10]},
        {"a": [-1, 1, 10], "b": [0, 1, 100_000]},
        {"a": [-1, "x", 10], "b": [0, 1, 10]},
    ],
)
def test_bad_specs_are_rejected(spec: dict) -> None:
    with pytest.raises(ValueError):
        surface_from_spec(MOVIES_X, MOVIES_Y, spec)


def test_json_form_has_no_non_finite_numbers() -> None:
    surface = loss_surface(MOVIES_X, MOVIES_Y, [0.07, 1e300], [-90.0, 0.0])
    data = surface.to_dict()
    assert data["loss"][0][1] is None and data["loss"][0][0] > 0
    json.dumps(data, allow_nan=False)
    assert set(data) == {"a", "b", "loss", "optimum", "grid_optimum"}


def test_several_features_are_rejected() -> None:
    with pytest.raises(InvalidData):
        loss_surface(np.ones((4, 2)), MOVIES_Y, [0.0], [0.0])
