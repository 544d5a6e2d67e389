"""The MLP engine's data handling: checks, the validation split, the boundary grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from descent_server.ml.types import InvalidData

SNAPSHOT_MARGIN = 0.05  # the boundary grid reaches 5% of the data's range beyond it


def check_data(x: Any, y: Any, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (X float64 (n, d), y int64 (n,)) or raise InvalidData saying what is wrong."""
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"features must be numbers: {exc}") from None
    y_raw = np.asarray(y)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise InvalidData(f"features must be a 2-D array with >= 2 rows, got shape {x.shape}")
    if y_raw.shape != (x.shape[0],):
        raise InvalidData(f"labels must have shape ({x.shape[0]},), got {y_raw.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidData("features contain NaN or infinite values")
    if len(classes) < 2:
        raise InvalidData("a classifier needs at least two classes")
    if not np.issubdtype(y_raw.dtype, np.number) or not np.all(np.isfinite(y_raw)):
        raise InvalidData("labels must be class indices")
    labels = y_raw.astype(np.int64)
    if np.any(labels != y_raw) or labels.min() < 0 or labels.max() >= len(classes):
        raise InvalidData(f"labels must be class indices in 0..{len(classes) - 1}")
    if np.unique(labels).size < 2:
        raise InvalidData("labels hold only one class: nothing to tell apart")
    return x, labels


def split_rows(
    y: np.ndarray, fraction: float, how: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, validation) row indices: a seeded stratified split or the tail."""
    n = len(y)
    if how == "tail":  # Keras's validation_split: the last rows, unshuffled
        cut = int(n * (1.0 - fraction))
        return np.arange(cut), np.arange(cut, n)
    rng = np.random.default_rng(seed)
    val = [
        rng.permutation(rows)[: int(round(fraction * len(rows)))]
        for rows in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(n), val_idx), val_idx


def snapshot_extent(x: np.ndarray) -> list[float]:
    """Return [x1min, x1max, x2min, x2max]: the data's range plus a small margin."""
    lo, hi = x[:, :2].min(axis=0), x[:, :2].max(axis=0)
    pad = np.where(hi > lo, (hi - lo) * SNAPSHOT_MARGIN, 0.5)
    return [
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    ]


def snapshot_points(extent: Sequence[float], resolution: int) -> np.ndarray:
    """Return the grid's points (resolution², 2) in data units, x1 varying fastest.

    Grid rows are x2 = linspace(x2min, x2max) ascending, columns x1 = linspace(x1min, x1max).
    """
    x1 = np.linspace(extent[0], extent[1], resolution)
    x2 = np.linspace(extent[2], extent[3], resolution)
    g1, g2 = np.meshgrid(x1, x2)
    return np.column_stack([g1.ravel(), g2.ravel()])


def count_params(n_inputs: int, hidden: Sequence[int], n_outputs: int) -> int:
    """Return the number of weights and biases of a Dense stack."""
    sizes = [n_inputs, *hidden, n_outputs]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
