"""The MLP engine's data handling: the validation split and the grids snapshots are taken on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SNAPSHOT_MARGIN = 0.05  # a snapshot grid reaches 5% of the data's range beyond it


def split_rows(
    y: np.ndarray, fraction: float, how: str, seed: int, *, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train, validation) row indices: a seeded (stratified) split or the tail.

    With stratify=False (numeric targets: no classes to balance) "stratified" is a plain
    seeded random split.
    """
    n = len(y)
    if how == "tail":  # Keras's validation_split: the last rows, unshuffled
        cut = int(n * (1.0 - fraction))
        return np.arange(cut), np.arange(cut, n)
    rng = np.random.default_rng(seed)
    if not stratify:
        val_idx = np.sort(rng.permutation(n)[: int(round(fraction * n))])
        return np.setdiff1d(np.arange(n), val_idx), val_idx
    val = [
        rng.permutation(rows)[: int(round(fraction * len(rows)))]
        for rows in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(n), val_idx), val_idx


def snapshot_extent(x: np.ndarray) -> list[float]:
    """Return [x1min, x1max, x2min, x2max]: the data's range plus a small margin."""
    return [*_padded(x[:, 0]), *_padded(x[:, 1])]


def fit_extent(x: np.ndarray) -> list[float]:
    """Return [xmin, xmax] of the first feature, padded as snapshot_extent pads."""
    return _padded(x[:, 0])


def _padded(column: np.ndarray) -> list[float]:
    lo, hi = float(column.min()), float(column.max())
    pad = (hi - lo) * SNAPSHOT_MARGIN if hi > lo else 0.5
    return [lo - pad, hi + pad]


def snapshot_points(extent: Sequence[float], resolution: int) -> np.ndarray:
    """Return the grid's points (resolution², 2) in data units, x1 varying fastest.

    Grid rows are x2 = linspace(x2min, x2max) ascending, columns x1 = linspace(x1min, x1max).
    """
    x1 = np.linspace(extent[0], extent[1], resolution)
    x2 = np.linspace(extent[2], extent[3], resolution)
    g1, g2 = np.meshgrid(x1, x2)
    return np.column_stack([g1.ravel(), g2.ravel()])


def fit_points(extent: Sequence[float], resolution: int) -> np.ndarray:
    """Return the regressor's fit grid (resolution, 1): x = linspace(xmin, xmax) ascending."""
    return np.linspace(extent[0], extent[1], resolution).reshape(-1, 1)


def count_params(n_inputs: int, hidden: Sequence[int], n_outputs: int) -> int:
    """Return the number of weights and biases of a Dense stack."""
    sizes = [n_inputs, *hidden, n_outputs]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
