"""Shared data and checks for the plot tests: the course's runs, surfaces and blobs."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
from PIL import Image

from descent_server.ml import plots
from descent_server.ml.datasets import load_builtin
from descent_server.ml.plots.boundary import REGION_TINT


def decode(data: bytes, fmt: str = "PNG") -> Image.Image:
    """Open image bytes, check their format and decode every pixel."""
    image = Image.open(io.BytesIO(data))
    assert image.format == fmt
    image.load()
    return image


def course_run(lr: float = 2e-10, epochs: int = 300) -> tuple[list, list, list]:
    """The notebook's gradient loop on the movies (course gradient, no factor 2)."""
    movies = load_builtin("movies")
    x, y = movies["num_want_to_see"], movies["nums_audience"]
    a, b = -0.75, -100.0
    hist = ([a], [b], [float(np.mean((a * x + b - y) ** 2))])
    for _ in range(epochs):
        err = a * x + b - y
        a, b = a - lr * np.mean(err * x), b - lr * np.mean(err)
        for h, v in zip(hist, (a, b, float(np.mean((a * x + b - y) ** 2))), strict=True):
            h.append(float(v))
    return hist


def numpy_surface() -> SimpleNamespace:
    """A surface shaped like ml.surface's: loss rows = b values, columns = a values."""
    movies = load_builtin("movies")
    x, y = movies["num_want_to_see"], movies["nums_audience"]
    a, b = np.linspace(-1, 1, 60), np.linspace(-1000, 1000, 50)
    loss = np.mean((a[None, :, None] * x + b[:, None, None] - y) ** 2, axis=-1)
    return SimpleNamespace(a=a, b=b, loss=loss, optimum={"a": 0.07, "b": -90.0, "loss": 3500.0})


def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Return the three-blobs points (n × 2) and labels."""
    data = load_builtin("three-blobs")
    return np.stack([data["x1"], data["x2"]], axis=-1), data["label"]


def halves_grid(n: int = 40, vertical: bool = False) -> np.ndarray:
    """Class 0 on the low x2 half (or low x1 half if vertical), class 1 on the other."""
    grid = np.zeros((n, n), dtype=np.uint8)
    if vertical:
        grid[:, n // 2 :] = 1
    else:
        grid[n // 2 :, :] = 1
    return grid


def region_rgb(k: int, i: int) -> np.ndarray:
    """Return the 0..255 RGB a region of class i (of k) is painted with."""
    tint = REGION_TINT * plots.class_colors(k)[i] + (1 - REGION_TINT)
    return np.round(tint * 255)
