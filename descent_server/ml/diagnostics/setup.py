"""Build a run's Diagnostics from its data and config, as the engines will see them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from descent_server.domain import Kind
from descent_server.ml.checks import check_targets
from descent_server.ml.diagnostics.data_rules import class_counts, feature_scales
from descent_server.ml.diagnostics.engine import Diagnostics
from descent_server.ml.linear import least_squares
from descent_server.ml.mlp_config import MLPConfig
from descent_server.ml.mlp_data import split_rows
from descent_server.ml.regression import RegressionConfig, analyze


def regression_diagnostics(
    X: ArrayLike, y: ArrayLike, config: RegressionConfig, names: Sequence[str] = ()
) -> Diagnostics:
    """Return the Diagnostics of a linear regression run (lr_max only for full batch)."""
    features, target = check_targets(X, y)
    full_batch = config.batch_size is None or config.batch_size >= len(target)
    lr_max = analyze(features, target, config).lr_max if full_batch else None
    return Diagnostics(
        kind=Kind.LINEAR_REGRESSION, n_features=features.shape[1], epochs=config.epochs,
        feature_scales=feature_scales(features), feature_names=names,
        normalize=config.normalize, learning_rate=config.learning_rate, lr_max=lr_max,
        loss_floor=float(least_squares(features, target)["loss"]),
    )  # fmt: skip


def mlp_diagnostics(
    X: ArrayLike,
    y: ArrayLike,
    classes: Sequence[object],
    config: MLPConfig,
    seed: int,
    names: Sequence[str] = (),
) -> Diagnostics:
    """Return the Diagnostics of an MLP run; `seed` is the run's (it draws the split)."""
    x = np.asarray(X, dtype=np.float64)
    kind = Kind.MLP_REGRESSOR if config.regression else Kind.MLP_CLASSIFIER
    train_counts = val_counts = None
    if not config.regression:
        labels = np.asarray(y, dtype=np.int64)
        train, val = split_rows(labels, config.validation_split, config.validation, seed)
        train_counts = class_counts(labels[train], classes)
        val_counts = class_counts(labels[val], classes) if val.size else None
    return Diagnostics(
        kind=kind, n_features=x.shape[1], epochs=config.epochs,
        feature_scales=feature_scales(x), feature_names=names, normalize=config.normalize,
        train_classes=train_counts, val_classes=val_counts,
    )  # fmt: skip
