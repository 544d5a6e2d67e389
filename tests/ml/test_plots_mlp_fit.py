"""An MLP regressor's fit pictures: the curve where its values say, one GIF frame per snapshot."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from descent_server.ml import plots
from tests.ml.plot_helpers import decode

GRID_X = np.linspace(-3, 3, 60)


def data() -> tuple[np.ndarray, np.ndarray]:
    """Return 200 noisy points of y = sin(x)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 200)
    return x, np.sin(x) + rng.normal(0, 0.05, 200)


def test_fit_png_has_the_size_asked_and_draws_the_curve():
    x, y = data()
    png = plots.mlp_fit_plot(x, y, GRID_X, np.sin(GRID_X).astype(np.float32), 40,
                             x_label="x", y_label="y", width=500, height=400)  # fmt: skip
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = decode(png)
    assert image.size == (500, 400)
    curve = np.round(np.array(to_rgb("C3")) * 255)
    pixels = np.asarray(image).reshape(-1, 3).astype(float)
    assert (np.abs(pixels - curve).sum(axis=1) < 10).sum() > 300  # the line is there, thick


def test_fit_png_variants():
    x, y = data()
    flat = np.zeros(60)
    decode(plots.mlp_fit_plot(x, y, GRID_X, flat))  # epoch unknown
    decode(plots.mlp_fit_plot([], [], GRID_X, flat, 0))  # no data points
    wild = np.full(60, np.inf)
    decode(plots.mlp_fit_plot(x, y, GRID_X, wild, 3))  # a curve of overflowed values: no line
    big = np.random.default_rng(1).uniform(-3, 3, 100_000)
    decode(plots.mlp_fit_plot(big, np.sin(big), GRID_X, flat, 1))
    with pytest.raises(ValueError):
        plots.mlp_fit_plot(x, y, GRID_X, np.zeros(59))
    with pytest.raises(ValueError):
        plots.mlp_fit_plot(x, y[:-1], GRID_X, flat)


def test_fit_titles_follow_the_epoch():
    assert plots.fit_title(0) == "Fitted curve, initial (epoch 0)"
    assert plots.fit_title(7) == "Fitted curve after epoch 7"
    assert plots.fit_title(None) == "Data and fitted curve"


def test_fit_gif_has_one_frame_per_snapshot_and_the_size_asked():
    x, y = data()
    curves = [np.sin(GRID_X) * k / 6 for k in range(7)]
    gif = plots.mlp_fit_gif(x, y, GRID_X, curves, list(range(0, 70, 10)), width=400, height=300)
    assert gif[:6] in (b"GIF87a", b"GIF89a")
    image = decode(gif, "GIF")
    assert image.size == (400, 300)
    assert image.n_frames == 7
    first, last = np.asarray(image.convert("RGB")), None
    image.seek(6)
    last = np.asarray(image.convert("RGB"))
    assert not np.array_equal(first, last)  # the curve moved


def test_fit_gif_thins_many_snapshots_and_refuses_mismatches():
    x, y = data()
    curves = [np.full(60, k / 300) for k in range(300)]
    gif = plots.mlp_fit_gif(x, y, GRID_X, curves, list(range(300)), 200, 150, max_frames=12)
    assert decode(gif, "GIF").n_frames == 12
    with pytest.raises(ValueError):
        plots.mlp_fit_gif(x, y, GRID_X, curves, [0, 1])
    with pytest.raises(ValueError):
        plots.mlp_fit_gif(x, y, GRID_X, [], [])
