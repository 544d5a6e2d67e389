"""Decision-region pictures: regions where they belong, one GIF frame per snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml import plots
from tests.ml.plot_helpers import blobs, decode, halves_grid, region_rgb

# --- boundary PNG and GIF --------------------------------------------------------------


def test_boundary_regions_are_oriented_x2_rows_up_and_x1_columns_right():
    empty = np.zeros((0, 2))
    for vertical in (False, True):
        png = plots.boundary_plot(
            halves_grid(vertical=vertical),
            [0, 10, 0, 10],
            ["a", "b"],
            empty,
            [],
            width=400,
            height=400,
        )
        pixels = np.asarray(decode(png)).astype(float)
        # Probe well inside the axes: a quarter and three quarters of the way across.
        low = pixels[300, 100] if not vertical else pixels[250, 120]
        high = pixels[120, 100] if not vertical else pixels[250, 330]
        np.testing.assert_allclose(low, region_rgb(2, 0), atol=2)
        np.testing.assert_allclose(high, region_rgb(2, 1), atol=2)


def test_boundary_plot_variants():
    X, y = blobs()
    grid = np.random.RandomState(0).randint(0, 3, (100, 100)).astype(np.uint8)
    decode(plots.boundary_plot(grid, [0, 100, 0, 100], [0, 1, 2], X, y))
    bad = grid.copy()
    bad[:10] = 255  # not a class: drawn grey, no crash
    decode(plots.boundary_plot(bad, [0, 100, 0, 100], ["a", "b", "c"], X, y, epoch=0))
    many = np.arange(144, dtype=np.uint8).reshape(12, 12)
    labels = np.random.RandomState(1).randint(0, 144, 5000)
    Xr = np.random.RandomState(2).uniform(0, 1, (5000, 2))
    decode(plots.boundary_plot(many, [0, 1, 0, 1], [f"c{i}" for i in range(144)], Xr, labels))
    big = np.random.RandomState(3).uniform(0, 100, (200_000, 2))
    decode(plots.boundary_plot(grid, [0, 100, 0, 100], "abc", big, np.zeros(200_000)))
    with pytest.raises(ValueError):
        plots.boundary_plot(np.zeros(5), [0, 1, 0, 1], "ab", X, y)


def test_epoch_0_is_titled_initial_not_after():
    assert plots.boundary_title(0) == "Decision regions, initial (epoch 0)"
    assert plots.boundary_title(5) == "Decision regions after epoch 5"
    assert plots.boundary_title(None) == "Decision regions"


def test_gif_has_one_frame_per_snapshot_with_the_size_asked():
    X, y = blobs()
    grids = [np.full((50, 50), i % 3, dtype=np.uint8) for i in range(7)]
    data = plots.boundary_gif(
        grids,
        [0, 1, 2, 3, 4, 5, 6],
        [0, 100, 0, 100],
        "abc",
        X,
        y,
        width=480,
        height=360,
        duration_ms=120,
    )
    gif = decode(data, "GIF")
    assert gif.n_frames == 7
    assert gif.size == (480, 360)
    assert gif.info["loop"] == 0
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        assert gif.info["duration"] == (120 if i < 6 else 480)
        frames.append(np.asarray(gif.convert("RGB")))
    assert not np.array_equal(frames[0], frames[1])


def test_gif_frames_match_the_png_layout():
    X = np.zeros((0, 2))
    grids = [halves_grid(vertical=False), halves_grid(vertical=True)]
    gif = decode(
        plots.boundary_gif(grids, [1, 2], [0, 10, 0, 10], ["a", "b"], X, [], width=400, height=400),
        "GIF",
    )
    gif.seek(0)
    first = np.asarray(gif.convert("RGB")).astype(float)
    np.testing.assert_allclose(first[300, 100], region_rgb(2, 0), atol=3)
    np.testing.assert_allclose(first[120, 100], region_rgb(2, 1), atol=3)
    gif.seek(1)
    second = np.asarray(gif.convert("RGB")).astype(float)
    np.testing.assert_allclose(second[250, 120], region_rgb(2, 0), atol=3)
    np.testing.assert_allclose(second[250, 330], region_rgb(2, 1), atol=3)
    png = np.asarray(
        decode(
            plots.boundary_plot(
                grids[0], [0, 10, 0, 10], ["a", "b"], X, [], epoch=1, width=400, height=400
            )
        )
    ).astype(float)
    # Same layout as the PNG: they differ only in antialiasing at a few edge pixels.
    assert (np.abs(png - first).max(axis=-1) > 40).mean() < 0.01


def test_gif_thins_a_long_run_to_max_frames():
    grids = [np.full((10, 10), i % 2, dtype=np.uint8) for i in range(25)]
    data = plots.boundary_gif(
        grids,
        list(range(25)),
        [0, 1, 0, 1],
        "ab",
        np.zeros((0, 2)),
        [],
        width=200,
        height=150,
        max_frames=10,
    )
    assert decode(data, "GIF").n_frames == 10


def test_gif_keeps_identical_snapshots_as_frames():
    grids = [np.zeros((10, 10), dtype=np.uint8)] * 3
    data = plots.boundary_gif(
        grids, [5, 5, 5], [0, 1, 0, 1], "ab", np.zeros((0, 2)), [], width=120, height=90
    )
    assert decode(data, "GIF").n_frames == 3


def test_gif_refuses_mismatched_input():
    with pytest.raises(ValueError):
        plots.boundary_gif([], [], [0, 1, 0, 1], "ab", np.zeros((0, 2)), [])
    with pytest.raises(ValueError):
        plots.boundary_gif([np.zeros((2, 2))], [0, 1], [0, 1, 0, 1], "ab", np.zeros((0, 2)), [])


def test_a_projection_places_raw_rows_on_its_plane_and_labels_the_axes():
    from descent_server.ml.normalize import Normalizer
    from descent_server.ml.projection import PCAPlane

    rng = np.random.RandomState(4)
    raw = rng.normal(size=(300, 3)) * [5.0, 2.0, 0.5] + [10.0, -3.0, 1.0]
    labels = (raw[:, 0] > 10).astype(int)
    normalizer = Normalizer.fit("standard", raw)
    plane = PCAPlane.fit(normalizer.apply(raw), normalizer)
    grid = halves_grid(vertical=True)
    extent = [-3, 3, -3, 3]
    drawn = plots.boundary_plot(
        grid, extent, ["a", "b"], raw, labels, 1, projection=plane.to_dict(), width=400
    )
    x_label, y_label = plane.axis_labels()
    by_hand = plots.boundary_plot(
        grid, extent, ["a", "b"], plane.project_raw(raw), labels, 1,
        x_label=x_label, y_label=y_label, width=400,
    )  # fmt: skip
    assert drawn == by_hand
    assert x_label.startswith("PC1 (") and x_label.endswith("% of variance)")
    gif = plots.boundary_gif(
        [grid], [1], extent, ["a", "b"], raw, labels, width=400, projection=plane.to_dict()
    )
    assert decode(gif, "GIF").n_frames == 1
    with pytest.raises(ValueError, match="projection"):
        plots.boundary_plot(grid, extent, ["a", "b"], raw, labels)
