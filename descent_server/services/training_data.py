"""Turn stored columns into the arrays an engine trains on, checking features and target.

Which target a kind needs (numbers or classes) is the kind's choice: `services/kinds/`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent_server.services.errors import InvalidInput

MAX_CLASSES = 256  # snapshot grids store class indices as uint8


@dataclass(frozen=True)
class TrainingData:
    """Inputs X (n, d) float64; y float64 targets or int class indices; class names in order."""

    X: np.ndarray
    y: np.ndarray
    classes: list[Any] = field(default_factory=list)


def feature_matrix(
    columns: Mapping[str, np.ndarray], features: Sequence[str], target: str
) -> np.ndarray:
    """Return X (n, d) float64; raise InvalidInput naming `features[i]` or `target`."""
    if len(set(features)) != len(features):
        raise InvalidInput.at(["body", "features"], "features must be distinct")
    for index, name in enumerate(features):
        if name not in columns:
            raise InvalidInput.at(["body", "features", index], f"no column {name!r} in the dataset")
        if columns[name].dtype.kind not in "fiu":
            raise InvalidInput.at(["body", "features", index], f"column {name!r} is not numeric")
    if target not in columns:
        raise InvalidInput.at(["body", "target"], f"no column {target!r} in the dataset")
    if target in features:
        raise InvalidInput.at(["body", "target"], "the target cannot also be a feature")
    return np.column_stack([columns[name].astype(np.float64) for name in features])


def numeric_target(values: np.ndarray, name: str) -> np.ndarray:
    """Return a numeric target column as float64 (InvalidInput naming `target` otherwise)."""
    if values.dtype.kind not in "fiu":
        raise InvalidInput.at(["body", "target"], f"column {name!r} is not numeric")
    return values.astype(np.float64)


def class_target(values: np.ndarray, name: str) -> tuple[np.ndarray, list[Any]]:
    """Return (class index per row, class names in order) of a label column."""
    unique, y = np.unique(values, return_inverse=True)
    if unique.size < 2:
        raise InvalidInput.at(["body", "target"], f"column {name!r} holds a single class")
    if unique.size > MAX_CLASSES:
        raise InvalidInput.at(["body", "target"], f"{name!r} has over {MAX_CLASSES} classes")
    return y.astype(np.int64), [_class_name(v) for v in unique.tolist()]


def _class_name(value: Any) -> Any:
    """Numbers stay numbers (ints when integral); strings stay strings."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
