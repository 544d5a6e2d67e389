"""Smith's learning-rate range test: one short run whose learning rate grows every batch.

The learning rate grows exponentially, lr_i = min_lr·(max_lr/min_lr)^(i/(steps−1)), one
value per mini-batch, the data cycled over as many epochs as the steps need (each epoch's
batches in the seeded order training uses, over the training rows of the config's split).
Each batch's loss is the one its forward pass measures just before the update with lr_i
(as fastai's lr_find records it), smoothed by an exponential moving average with bias
correction (β = 0.98, as fastai). The test stops early when the smoothed loss exceeds 4×
the best so far, or the loss is not finite: it exploded.

The suggestion (`rule` names the one that decided):
- "steepest": the learning rate where the smoothed loss falls fastest against log lr, i.e.
  the most negative d loss / d ln lr on the smoothed curve after a light moving average of
  LIGHT_WINDOW points, searched from the first tenth (the start is flat noise) up to the
  smallest smoothed loss and not in the last SKIP_END points (the explosion), divided by
  STEEPEST_MARGIN (see below) to be a rate that a whole run at a constant rate survives;
- "minimum/10": no falling stretch was found: a tenth of the lr at the smallest loss;
- "curvature" (linear regression only): the curve's suggestion is capped at 1/λ_max =
  lr_max/2 of the full-batch loss (regression.analyze), the largest rate at which every
  direction descends without oscillating; the rule says "curvature" when the cap decided.

STEEPEST_MARGIN (10): the steepest point is where the loss falls fastest in a run of only
`steps` batches, i.e. at the edge of what sustained training survives. Measured on the
course MLP (three-blobs, [40, 40], sgd, minmax, 100 steps from 1e-7 to 10, seeds 100 and 1):
the steepest point lies at 0.74 and 0.89; trained for 20 epochs, 1.0 kills the ReLUs on two
of four seeds (val accuracy 0.33), 0.2 to 0.5 swing by up to 0.25 from epoch to epoch, and
0.03 to 0.1 reach 0.98 on every seed. A tenth of the steepest point lands in that range
(0.074, 0.089); a third (0.25, 0.30) ended at 0.977 on one seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from descent_server.ml import keras_backend as kb
from descent_server.ml.checks import check_targets
from descent_server.ml.mlp import check_data
from descent_server.ml.mlp_config import MLPConfig
from descent_server.ml.mlp_data import split_rows
from descent_server.ml.normalize import Normalizer
from descent_server.ml.quadratic import Quadratic
from descent_server.ml.regression import (
    RegressionConfig,
    analyze,
    epoch_order,
    epoch_seed_base,
    feature_normalizer,
    initial_params,
)
from descent_server.ml.types import InvalidData, ShouldStop

BETA = 0.98  # the moving average's weight of the past (fastai's)
EXPLODE_FACTOR = 4.0  # a smoothed loss this many times the best so far has exploded
LIGHT_WINDOW = 5  # points in the moving average the slope is taken on
SKIP_END = 5  # last points ignored by "steepest": the explosion's own steep edges
STEEPEST_MARGIN = 10.0
MIN_STEPS = 10
MAX_STEPS = 10_000
Step = Callable[[int, float], float]  # step(i, lr) -> the loss batch i measures, then updates


@dataclass(frozen=True)
class LrRangeResult:
    """The range test's curve and what it suggests."""

    points: list[tuple[float, float]]  # (learning_rate, smoothed loss), one per batch run
    raw_losses: list[float]  # each batch's own loss, before smoothing
    suggested: float | None  # None only when not even one finite loss was measured
    rule: str  # "steepest", "minimum/10" or "curvature" (see the module docstring)
    stopped_early: bool  # the loss exploded (or should_stop said so) before max_lr
    lr_max: float | None = None  # linear regression: 2/λ_max of the full-batch loss
    seed: int | None = None  # MLP: the seed of the weights and batch order

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON of the API's range test result."""
        return {
            "points": [{"learning_rate": lr, "loss": loss} for lr, loss in self.points],
            "suggested_learning_rate": self.suggested,
            "rule": self.rule,
            "stopped_early": self.stopped_early,
            "lr_max": self.lr_max,
        }


def learning_rates(min_lr: float, max_lr: float, steps: int) -> np.ndarray:
    """Return the test's learning rates: `steps` values from min_lr to max_lr, log-spaced."""
    if not (math.isfinite(min_lr) and math.isfinite(max_lr) and 0 < min_lr < max_lr):
        raise ValueError("need finite learning rates 0 < min_lr < max_lr")
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in [{MIN_STEPS}, {MAX_STEPS}]")
    return np.geomspace(min_lr, max_lr, steps)


def lr_range_test(
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[Any],
    config: MLPConfig | RegressionConfig,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    *,
    should_stop: ShouldStop | None = None,
) -> LrRangeResult:
    """Run the range test with the config's model, optimizer, batches and normalization.

    An MLPConfig trains its Keras MLP (classes empty for a regressor); a RegressionConfig
    the linear regression (classes unused), its suggestion capped by the exact curvature.
    """
    lrs = learning_rates(min_lr, max_lr, steps)
    if isinstance(config, RegressionConfig):
        return _regression(X, y, config, lrs, should_stop)
    return _mlp(X, y, classes, config, lrs, should_stop)


def run_schedule(
    lrs: np.ndarray, step: Step, should_stop: ShouldStop | None = None
) -> tuple[list[tuple[float, float]], list[float], bool]:
    """Run step(i, lr_i) over the schedule; return smoothed points, raw losses, stopped early."""
    points: list[tuple[float, float]] = []
    raw: list[float] = []
    average, best = 0.0, math.inf
    for i, lr in enumerate(lrs):
        if should_stop is not None and should_stop():
            return points, raw, True
        loss = step(i, float(lr))
        if not math.isfinite(loss):
            return points, raw, True
        raw.append(loss)
        average = BETA * average + (1 - BETA) * loss
        smoothed = average / (1 - BETA ** (i + 1))  # bias correction: the early average is 0
        points.append((float(lr), smoothed))
        if i > 0 and smoothed > EXPLODE_FACTOR * best:
            return points, raw, True
        best = min(best, smoothed)
    return points, raw, False


def suggest(points: Sequence[tuple[float, float]]) -> tuple[float | None, str]:
    """Return (suggested learning rate, rule) from the smoothed curve (module docstring)."""
    if not points:
        return None, "minimum/10"
    lrs = np.array([p[0] for p in points])
    losses = np.array([p[1] for p in points])
    # The loss must fall on the way to its minimum: later slopes belong to the explosion
    # (spikes the average absorbs without passing 4× the best, as RMSprop's do).
    start = max(1, len(points) // 10)
    stop = min(len(points) - SKIP_END, int(np.argmin(losses)) + 1)
    if stop - start >= LIGHT_WINDOW:
        light = np.convolve(losses, np.ones(LIGHT_WINDOW) / LIGHT_WINDOW, mode="same")
        half = LIGHT_WINDOW // 2  # the ends average fewer points: take those as they are
        light[:half], light[-half:] = losses[:half], losses[-half:]
        slope = np.gradient(light, np.log(lrs))[start:stop]
        best = int(np.argmin(slope))
        if slope[best] < 0:
            return float(lrs[start + best]) / STEEPEST_MARGIN, "steepest"
    return float(lrs[int(np.argmin(losses))]) / 10, "minimum/10"


def _mlp(
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[Any],
    config: MLPConfig,
    lrs: np.ndarray,
    should_stop: ShouldStop | None,
) -> LrRangeResult:
    """Run the test on the config's Keras MLP, one train_on_batch per learning rate."""
    x, targets, labels = check_data(X, y, classes, config)
    seed = config.seed
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    xn = Normalizer.fit(config.normalize, x).apply(x)
    train, _ = split_rows(
        targets[:, 0] if labels is None else labels, config.validation_split, config.validation,
        seed, stratify=labels is not None,
    )  # fmt: skip
    if train.size == 0:
        raise InvalidData("no training rows are left after the validation split")
    k = len(classes)
    keras = kb.keras_module()
    keras.backend.clear_session(free_memory=False)
    kb.seed_everything(seed)
    model = kb.build_model(
        x.shape[1], config.hidden_layers, config.activation, config.n_outputs(k),
        config.output_for(k), seed,
    )  # fmt: skip
    model.compile(
        optimizer=kb.make_optimizer(config.optimizer, float(lrs[0]), config.momentum),
        loss=config.loss_for(k),
    )
    inputs, outputs = xn[train].astype(np.float32), targets[train].astype(np.float32)
    per_epoch = math.ceil(train.size / config.batch_size)
    order = np.arange(train.size)

    def step(i: int, lr: float) -> float:
        nonlocal order
        epoch, batch = divmod(i, per_epoch)
        if batch == 0:  # the batch order training would use in this epoch
            order = epoch_order(seed, epoch + 1, train.size)
        rows = order[batch * config.batch_size : (batch + 1) * config.batch_size]
        model.optimizer.learning_rate = lr
        logs = model.train_on_batch(inputs[rows], outputs[rows], return_dict=True)
        return float(logs["loss"])

    points, raw, stopped = run_schedule(lrs, step, should_stop)
    suggested, rule = suggest(points)
    return LrRangeResult(points, raw, suggested, rule, stopped, seed=seed)


def _regression(
    X: np.ndarray,
    y: np.ndarray,
    config: RegressionConfig,
    lrs: np.ndarray,
    should_stop: ShouldStop | None,
) -> LrRangeResult:
    """Run the test on the linear regression (numpy); cap the suggestion at 1/λ_max."""
    features, target = check_targets(X, y)
    norm = feature_normalizer(features, config.normalize)
    xn = features if norm is None else norm.apply(features)
    w, b = initial_params(config, features.shape[1], norm)
    factor = 2.0 if config.gradient == "exact" else 1.0
    n = len(target)
    size = n if config.batch_size is None else min(config.batch_size, n)
    per_epoch = math.ceil(n / size)
    quad = Quadratic.from_data(xn, target) if size == n else None
    base = epoch_seed_base(config.seed)
    order = np.arange(n)

    def step(i: int, lr: float) -> float:
        nonlocal w, b, order
        with np.errstate(over="ignore", invalid="ignore"):
            if quad is not None:  # full batch: O(d²) from the data read once
                loss = quad.loss(w, b)
                gw, gb = quad.gradient(w, b)
            else:
                epoch, batch = divmod(i, per_epoch)
                if batch == 0:
                    order = epoch_order(base, epoch + 1, n)
                rows = order[batch * size : (batch + 1) * size]
                err = xn[rows].dot(w) + b - target[rows]
                loss = float(np.mean(err * err))
                gw, gb = err.dot(xn[rows]) / len(rows), float(err.mean())
            w, b = w - factor * lr * gw, b - factor * lr * gb
        return float(loss)

    points, raw, stopped = run_schedule(lrs, step, should_stop)
    suggested, rule = suggest(points)
    lr_max = analyze(features, target, config).lr_max
    cap = lr_max / 2
    if math.isfinite(cap) and (suggested is None or suggested > cap):
        suggested, rule = cap, "curvature"
    return LrRangeResult(points, raw, suggested, rule, stopped, lr_max=lr_max)
