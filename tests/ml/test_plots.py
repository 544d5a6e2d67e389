"""Every renderer returns a decodable image of exactly the requested size, whatever the data."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from descent_server.ml import plots
from descent_server.ml.datasets import load_builtin
from descent_server.ml.plots._render import power_label, thin
from descent_server.ml.surface import loss_surface
from descent_server.ml.types import divergence_message
from tests.ml.plot_helpers import blobs, course_run, decode, halves_grid, numpy_surface

SIZES = [(800, 600, 100), (333, 257, 72), (1000, 700, 150)]


# --- sizes -----------------------------------------------------------------------------


def all_renderers():
    a, b, loss = course_run()
    epochs = np.arange(len(loss))
    surface = numpy_surface()
    X, y = blobs()
    movies = load_builtin("movies")
    return {
        "loss": lambda **k: plots.loss_plot(epochs, loss, [v * 1.1 for v in loss], **k),
        "params": lambda **k: plots.params_plot(epochs, {"a": a, "b": b}, **k),
        "fit": lambda **k: plots.fit_plot(
            movies["num_want_to_see"],
            movies["nums_audience"],
            {"a": a[-1], "b": b[-1]},
            12008,
            **k,
        ),
        "surface": lambda **k: plots.surface_plot(surface, a, b, loss, **k),
        "contour": lambda **k: plots.contour_plot(surface, [("lr 2e-10", a, b)], **k),
        "boundary": lambda **k: plots.boundary_plot(
            halves_grid(), [0, 100, 0, 100], "abc", X, y, 3, **k
        ),
        "sweep_loss": lambda **k: plots.sweep_loss_plot(
            [("lr=2e-10", epochs, loss, False), ("lr=1e-3", [0, 1], [1e8, 2.2e18], True)], **k
        ),
    }


RENDERERS = all_renderers()


@pytest.mark.parametrize("name", sorted(RENDERERS))
@pytest.mark.parametrize(("width", "height", "dpi"), SIZES)
def test_png_has_exactly_the_requested_size(name, width, height, dpi):
    image = decode(RENDERERS[name](width=width, height=height, dpi=dpi))
    assert image.size == (width, height)
    assert image.mode == "RGB"


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_default_size_is_800_by_600(name):
    assert decode(RENDERERS[name]()).size == (800, 600)


@pytest.mark.parametrize(
    ("width", "height", "dpi"), [(0, 600, 100), (800, 5000, 100), (800, 600, 0)]
)
def test_impossible_sizes_are_refused(width, height, dpi):
    with pytest.raises(ValueError):
        plots.loss_plot([0, 1], [2, 1], width=width, height=height, dpi=dpi)


# --- loss, params, sweep ---------------------------------------------------------------


@pytest.mark.parametrize("log", [None, True, False])
def test_loss_plot_survives_gaps_and_non_finite_values(log):
    loss = [5.0, None, float("nan"), 3.0, float("inf"), -1.0, 0.0, 1e300, 2.0]
    val = [None] * 4 + [1.0, 2.0, float("-inf"), None, 0.5]
    assert decode(plots.loss_plot(range(9), loss, val, log=log)).size == (800, 600)


@pytest.mark.parametrize("loss", [[], [None, None], [float("nan")], [3.0]])
def test_loss_plot_with_no_or_one_point(loss):
    decode(plots.loss_plot(list(range(len(loss))), loss, diverged=True))


def test_loss_plot_marks_divergence_in_red():
    without = np.asarray(decode(plots.loss_plot([0, 1], [1e8, 2.2e18])))
    marked = np.asarray(decode(plots.loss_plot([0, 1], [1e8, 2.2e18], diverged=True)))
    red = (marked[..., 0] > 180) & (marked[..., 1] < 80) & (marked[..., 2] < 80)
    red_before = (without[..., 0] > 180) & (without[..., 1] < 80) & (without[..., 2] < 80)
    assert red.sum() > red_before.sum() + 50


def test_loss_plot_of_a_million_epochs():
    epochs = np.arange(1_000_000)
    loss = np.exp(-epochs / 1e5) + 1.0
    loss[777_777] = 50.0  # one spike: the thinning keeps it
    decode(plots.loss_plot(epochs, loss))


def test_thinning_keeps_the_shape_of_a_curve():
    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 5000)
    y[12_345], y[54_321] = 10.0, -10.0
    y[70_000:70_010] = np.nan
    tx, ty = thin(x, y, 1000)
    assert tx.size <= 1000 + 1000 // 2 + 2
    assert 10.0 in ty and -10.0 in ty
    assert tx[0] == 0 and tx[-1] == 99_999
    assert np.all(np.diff(tx) > 0)


def test_params_plot_variants():
    epochs = np.arange(50)
    decode(plots.params_plot(epochs, {"a": np.linspace(-1, 0.07, 50)}))
    decode(
        plots.params_plot(
            epochs,
            {f"dense_{i}": np.linspace(1, 2 + i, 50) for i in range(3)},
            {f"grad dense_{i}": np.geomspace(1e-1, 1e-5, 50) for i in range(3)},
            log=True,
            y_label="weight norm",
            secondary_label="gradient norm",
        )
    )
    decode(plots.params_plot(epochs, {"a": [None] * 50, "b": [float("nan")] * 50}))
    decode(plots.params_plot([], {}))


def spine_rows(image) -> int:
    """Count the horizontal axis frames' edges: runs of rows dark across most of the width."""
    dark = np.asarray(image.convert("RGB")).sum(axis=2) < 150
    rows = np.flatnonzero(dark.mean(axis=1) > 0.5)
    return int(rows.size and 1 + np.count_nonzero(np.diff(rows) > 1))


def pixels_of(image, rgb: tuple[int, int, int]) -> np.ndarray:
    """Return the row numbers of the pixels painted exactly `rgb`."""
    return np.nonzero(np.all(np.asarray(image.convert("RGB")) == rgb, axis=2))[0]


def test_regression_params_get_one_panel_each():
    a, b, _ = course_run()
    epochs = np.arange(len(a))
    image = decode(plots.params_plot(epochs, {"a": a, "b": b}, panels=True))
    assert spine_rows(image) == 4  # two panels: each has a top and a bottom edge
    # a (C0 blue) is drawn on the upper panel only, b (C1 orange) on the lower one only: on
    # twin axes both curves, rescaled, would lie exactly on top of each other.
    blue, orange = pixels_of(image, (31, 119, 180)), pixels_of(image, (255, 127, 14))
    assert blue.size > 100 and orange.size > 100
    assert blue.max() < orange.min()
    twin = decode(plots.params_plot(epochs, {"a": a, "b": b}))
    assert spine_rows(twin) == 2


@pytest.mark.parametrize(("count", "panels"), [(2, 3), (5, 2)])
def test_many_weights_share_a_panel_and_the_bias_keeps_its_own(count, panels):
    epochs = np.arange(50)
    series = {f"w[{i}]": np.linspace(0, i + 1, 50) for i in range(count)}
    series["bias"] = np.linspace(3, 1, 50)
    image = decode(plots.params_plot(epochs, series, panels=True, width=400, height=300))
    assert spine_rows(image) == 2 * panels


def test_divergence_label_says_what_the_api_error_says():
    label = plots.divergence_label([0, 1], [1e8, 2.2e18])
    # The words of the run's error (services/training.py), then the last finite loss.
    assert label == "loss diverged: training stopped at epoch 1 (loss 2.2e+18)"
    assert label.startswith(divergence_message(1))
    assert plots.divergence_label([0, 1, 2], [1e8, 2e9, float("nan")]).startswith(
        "loss diverged: training stopped at epoch 1 "
    )
    assert plots.divergence_label([0], [float("nan")]) is None


def test_sweep_plot_with_many_runs_and_non_finite_curves():
    curves = [
        (f"lr={lr:g}", range(20), np.geomspace(1e8, 1e3 * (i + 1), 20), False)
        for i, lr in enumerate(np.geomspace(1e-12, 1e-9, 14))
    ]
    curves.append(("broken", [0, 1, 2], [None, float("nan"), float("inf")], True))
    curves.append(("diverged at once", [0], [1e8], True))
    decode(plots.sweep_loss_plot(curves))
    decode(plots.sweep_loss_plot(curves, log=False))
    decode(plots.sweep_loss_plot([]))


def test_power_labels_are_plain_text():
    assert power_label(1e8) == "10⁸"
    assert power_label(1e-3) == "10⁻³"
    assert power_label(2e3) == "2000"
    assert power_label(0.0) == ""


# --- fit, surface, contour -------------------------------------------------------------


def test_fit_plot_variants():
    movies = load_builtin("movies")
    x, y = movies["num_want_to_see"], movies["nums_audience"]
    decode(
        plots.fit_plot(
            x,
            y,
            {"a": 0.0714585, "b": -99.99},
            12008,
            x_label="want-to-see count (people)",
            y_label="audience (10k people)",
            point_labels=list(movies["title"]),
        )
    )
    decode(plots.fit_plot(x, y, {"a": 0.0, "b": 0.0}))
    decode(plots.fit_plot(x, y, {"a": float("inf"), "b": None}, 12008))
    decode(plots.fit_plot([np.nan, np.inf], [1, 2], {"a": 1, "b": 1}))
    rng = np.random.RandomState(0)
    decode(plots.fit_plot(rng.normal(size=200_000), rng.normal(size=200_000), {"a": 1, "b": 0}))


def test_fit_plot_needs_one_feature_parameters():
    with pytest.raises(ValueError, match="one-feature"):
        plots.fit_plot([1, 2], [1, 2], {"weights": [1.0, 2.0], "bias": 0.0})


def test_surface_and_contour_on_the_real_loss_surface():
    movies = load_builtin("movies")
    x, y = movies["num_want_to_see"], movies["nums_audience"]
    surface = loss_surface(x, y, np.linspace(-1, 1, 100), np.linspace(-1000, 1000, 100))
    a, b, loss = course_run()
    decode(plots.surface_plot(surface, a, b, loss))
    decode(plots.surface_plot(surface, a, b))  # loss along the path read off the grid
    decode(plots.surface_plot(surface, log=True))
    decode(plots.contour_plot(surface, [("lr 2e-10", a, b), ("lr 1e-12", *course_run(1e-12)[:2])]))
    decode(plots.contour_plot(surface, [], log=False))


def test_surface_and_contour_survive_non_finite_values():
    surface = numpy_surface()
    surface.loss[3:7, 10:20] = np.nan
    surface.loss[0, 0] = np.inf
    surface.loss[20, 20] = 0.0  # a zero on a log scale
    surface.optimum = {"a": None, "b": float("nan"), "loss": None}
    wild_a = [-0.75, 1e200, np.inf, np.nan, 0.5]
    wild_b = [-100.0, -1e200, 5.0, np.nan, 0.0]
    decode(plots.surface_plot(surface, wild_a, wild_b, [1e8, np.inf, None, 1.0]))
    decode(plots.surface_plot(surface, wild_a, wild_b, log=True))
    decode(plots.contour_plot(surface, [("wild", wild_a, wild_b), ("empty", [], [])]))
    surface.loss[:] = np.nan
    decode(plots.contour_plot(surface, [("wild", wild_a, wild_b)]))
    decode(plots.surface_plot(surface))


def test_surface_axes_may_come_in_any_order():
    surface = numpy_surface()
    flipped = SimpleNamespace(
        a=surface.a[::-1], b=surface.b[::-1], loss=surface.loss[::-1, ::-1], optimum=surface.optimum
    )
    assert plots.contour_plot(flipped) == plots.contour_plot(surface)


def test_a_surface_of_the_wrong_shape_is_refused():
    surface = numpy_surface()
    surface.loss = surface.loss.T
    with pytest.raises(ValueError, match="len"):
        plots.contour_plot(surface)
    with pytest.raises(ValueError, match="at least 2"):
        plots.surface_plot(SimpleNamespace(a=[1.0], b=[1.0, 2.0], loss=[[1.0], [2.0]], optimum={}))


def test_a_long_path_is_drawn():
    surface = numpy_surface()
    t = np.linspace(0, 1, 200_000)
    decode(plots.contour_plot(surface, [("long", -0.75 + 0.8 * t, -100 + 0 * t)]))
    decode(plots.surface_plot(surface, -0.75 + 0.8 * t, -100 + 0 * t))


# --- purity and threads ----------------------------------------------------------------


def test_renders_are_deterministic_and_thread_safe():
    names = sorted(RENDERERS)
    serial = [RENDERERS[n](width=320, height=240) for n in names]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda n: RENDERERS[n](width=320, height=240), names))
    assert threaded == serial


def test_plots_never_import_pyplot():
    probe = (
        "import json, sys\n"
        "from descent_server.ml import plots\n"
        "plots.loss_plot([0, 1], [2.0, 1.0])\n"
        "import numpy as np\n"
        "plots.boundary_gif([np.zeros((4, 4), np.uint8)], [0], [0, 1, 0, 1], 'ab',"
        " np.zeros((0, 2)), [])\n"
        "print(json.dumps(sorted(m for m in sys.modules if 'pyplot' in m)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
