"""The plain per-epoch gradient descent: every epoch touches every row, as the notebook does.

It is the reference the fast engine is tested against and the baseline it is benchmarked
against, so it shares only bookkeeping with `regression` (config, normalisation, batch
order, result assembly), never the arithmetic of a step or of the loss.
It lives beside the benchmarks, not in the package: only tests and benchmarks use it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from descent_server.ml.checks import check_targets
from descent_server.ml.regression import (
    RegressionConfig,
    RegressionResult,
    Status,
    build_result,
    epoch_order,
    epoch_seed_base,
    feature_normalizer,
    initial_params,
)


def train_regression_reference(
    X: ArrayLike, y: ArrayLike, config: RegressionConfig
) -> RegressionResult:
    """Fit y ≈ X·w + b like train_regression, recomputing everything from the rows per epoch."""
    features, target = check_targets(X, y)
    norm = feature_normalizer(features, config.normalize)
    if norm is not None:
        features = norm.apply(features)
    w, b = initial_params(config, features.shape[1], norm)
    n = len(target)
    factor = 2.0 if config.gradient == "exact" else 1.0
    batch = config.batch_size if config.batch_size is not None and config.batch_size < n else n
    base = epoch_seed_base(config.seed) if batch < n else 0

    err = features.dot(w) + b - target
    loss = float(err.dot(err)) / n
    weights, biases, losses = [w], [b], [loss]
    bound = config.divergence_factor * loss if loss > 0 else math.inf
    status: Status = "succeeded" if math.isfinite(loss) else "diverged"
    epoch = config.start_epoch
    with np.errstate(over="ignore", invalid="ignore"):
        while status == "succeeded" and epoch < config.epochs:
            epoch += 1
            if batch == n:
                w = w - config.learning_rate * (factor * (err.dot(features) / n))
                b = b - config.learning_rate * (factor * float(err.mean()))
            else:
                order = epoch_order(base, epoch, n)
                for start in range(0, n, batch):
                    idx = order[start : start + batch]
                    e = features[idx].dot(w) + b - target[idx]
                    w = w - config.learning_rate * (factor * (e.dot(features[idx]) / len(idx)))
                    b = b - config.learning_rate * (factor * float(e.mean()))
            err = features.dot(w) + b - target
            loss = float(err.dot(err)) / n
            if not math.isfinite(loss):
                status = "diverged"
                break
            weights.append(w)
            biases.append(b)
            losses.append(loss)
            if loss > bound:
                status = "diverged"
    return build_result(status, config.start_epoch, weights, biases, losses, norm)
