"""Turn stored columns into the arrays an engine trains on, checking features and target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.services.datasets import load_columns
from descent_server.services.errors import InvalidInput

REGRESSION = "linear_regression"
MLP = "mlp_classifier"
MAX_CLASSES = 256  # snapshot grids store class indices as uint8


@dataclass(frozen=True)
class TrainingData:
    """Inputs X (n, d) float64; y float64 targets or int class indices; class names in order."""

    X: np.ndarray
    y: np.ndarray
    classes: list[Any] = field(default_factory=list)


def training_data(
    columns: Mapping[str, np.ndarray], *, kind: str, features: Sequence[str], target: str
) -> TrainingData:
    """Build X and y; raise InvalidInput naming `features[i]` or `target` when they don't fit."""
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
    X = np.column_stack([columns[name].astype(np.float64) for name in features])
    values = columns[target]
    if kind == REGRESSION:
        if values.dtype.kind not in "fiu":
            raise InvalidInput.at(["body", "target"], f"column {target!r} is not numeric")
        return TrainingData(X, values.astype(np.float64))
    unique, y = np.unique(values, return_inverse=True)
    if unique.size < 2:
        raise InvalidInput.at(["body", "target"], f"column {target!r} holds a single class")
    if unique.size > MAX_CLASSES:
        raise InvalidInput.at(["body", "target"], f"{target!r} has over {MAX_CLASSES} classes")
    return TrainingData(X, y.astype(np.int64), [_class_name(v) for v in unique.tolist()])


def load_training_data(*, session: Session, run: Run) -> TrainingData:
    """Load the run's dataset (stored or builtin) and build its training arrays."""
    columns = load_columns(session=session, dataset_id=run.dataset_id, owner=run.owner)
    return training_data(columns, kind=run.kind, features=run.features, target=run.target)


def _class_name(value: Any) -> Any:
    """Numbers stay numbers (ints when integral); strings stay strings."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
