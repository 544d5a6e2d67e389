"""The engines' data checks: numeric features with numeric targets, or with class indices.

Both raise InvalidData saying what is wrong; both share one feature check, so a regression
and a classifier refuse the same bad inputs with the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from descent_server.ml.types import InvalidData


def check_features(X: Any, *, min_rows: int = 1) -> np.ndarray:
    """Return X as float64 (n, d), d >= 1 (a 1-D X is one feature), n >= min_rows."""
    try:
        features = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"features must be numbers: {exc}") from None
    if features.ndim == 1:
        features = features.reshape(-1, 1)
    if features.ndim != 2 or features.shape[1] == 0:
        raise InvalidData(f"features must be a 2-D array (n, d), got shape {features.shape}")
    if features.shape[0] < min_rows:
        raise InvalidData(f"need at least {min_rows} row(s) to train on, got {features.shape[0]}")
    _check_finite(features, "features contain NaN or infinite values")
    return features


def check_targets(X: Any, y: Any, *, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return (features float64 (n, d), numeric targets float64 (n,)) or raise InvalidData."""
    features = check_features(X, min_rows=min_rows)
    try:
        target = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"the target must be numbers: {exc}") from None
    if target.shape != (features.shape[0],):
        raise InvalidData(f"the target must have shape ({features.shape[0]},), got {target.shape}")
    _check_finite(target, "the target contains NaN or infinite values")
    return features, target


def check_labels(X: Any, y: Any, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (features float64 (n, d), class indices int64 (n,)) or raise InvalidData."""
    features = check_features(X, min_rows=2)
    y_raw = np.asarray(y)
    if y_raw.shape != (features.shape[0],):
        raise InvalidData(f"labels must have shape ({features.shape[0]},), got {y_raw.shape}")
    if len(classes) < 2:
        raise InvalidData("a classifier needs at least two classes")
    if not np.issubdtype(y_raw.dtype, np.number) or not np.all(np.isfinite(y_raw)):
        raise InvalidData("labels must be class indices")
    labels = y_raw.astype(np.int64)
    if np.any(labels != y_raw) or labels.min() < 0 or labels.max() >= len(classes):
        raise InvalidData(f"labels must be class indices in 0..{len(classes) - 1}")
    if np.unique(labels).size < 2:
        raise InvalidData("labels hold only one class: nothing to tell apart")
    return features, labels


def _check_finite(values: np.ndarray, message: str) -> None:
    # A sum is finite only if no NaN or infinity went into it: one cheap read, and the exact
    # test only when it fails (finite values can also overflow the sum).
    with np.errstate(over="ignore", invalid="ignore"):
        total = values.sum()
    if not np.isfinite(total) and not np.isfinite(values).all():
        raise InvalidData(message)
