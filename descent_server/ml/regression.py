"""Linear regression by gradient descent, as the course teaches it, fast enough for production.

History convention (docs/api.md): row k holds the parameters after k updates and the MSE at
those parameters; row 0 is the initial state. (The notebook's own `loss_history[k]` is the
loss before update k, i.e. one row behind; its final parameters are the same.)

Full-batch training reads the data once (`Quadratic`), then costs O(d²) per epoch. Mini-batch
training (batch_size < n; larger is full batch) shuffles with a generator seeded by
(seed, epoch), so a resumed run repeats the batches an uninterrupted one would have used
(with seed=None each call draws fresh entropy: store a seed to make resume exact).

With `normalize`, training happens on the normalised features and everything reported
(params, history, loss) is in the data's units; only the features are normalised, the target
is not (the loss is unchanged by it).

Divergence: when a row's loss is non-finite, training stops and that row is dropped; when
it is finite but above `divergence_factor` × the first row's loss, the row is kept (it shows
the blow-up) and training stops. Either way the status is "diverged".

Resume: `config.resumed(k, params)` continues after epoch k; on_epoch then sees epoch k again
first (the same row as before), so callers store rows idempotently.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from descent_server.domain import Status
from descent_server.ml.checks import check_targets
from descent_server.ml.linear import (
    finite_or_none,
    least_squares,
    params_dict,
    predict_regression,
    unpack_params,
)
from descent_server.ml.normalize import Normalize, Normalizer
from descent_server.ml.quadratic import Quadratic
from descent_server.ml.types import EpochRecord, InvalidData, OnEpoch, ShouldStop

Gradient = Literal["course", "exact"]
# advance(epoch, w, b) -> (w, b, loss): one epoch of updates, then the loss at the new params.
Advance = Callable[[int, Any, float], tuple[Any, float, float]]
CHECK_ROWS = 4096  # mini-batch epochs check should_stop about every this many rows

__all__ = [
    "Analysis",
    "RegressionConfig",
    "RegressionHistory",
    "RegressionResult",
    "analyze",
    "least_squares",
    "predict_regression",
    "train_regression",
]


@dataclass(frozen=True)
class RegressionConfig:
    """Hyperparameters of one regression run; init params are in the data's units."""

    learning_rate: float = 0.01
    epochs: int = 300  # the last epoch number, also when resuming
    init_weights: tuple[float, ...] | None = None  # None = zeros; one value = every feature
    init_bias: float = 0.0
    gradient: Gradient = "course"
    normalize: Normalize = "none"
    batch_size: int | None = None
    seed: int | None = None
    start_epoch: int = 0  # resume: init_* are the params after this many updates
    divergence_factor: float = 1e6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError("learning_rate must be a positive finite number")
        if not 0 <= self.start_epoch <= self.epochs:
            raise ValueError("need 0 <= start_epoch <= epochs")
        if self.gradient not in ("course", "exact"):
            raise ValueError(f"unknown gradient {self.gradient!r}")
        if self.normalize not in ("none", "minmax", "standard"):
            raise ValueError(f"unknown normalize {self.normalize!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.seed is not None and self.seed < 0:
            raise ValueError("seed must be a non-negative integer")
        if not self.divergence_factor > 1:
            raise ValueError("divergence_factor must be greater than 1")

    def resumed(self, epoch: int, params: Mapping[str, Any]) -> RegressionConfig:
        """Return this config continuing from `params`, the state after `epoch` updates."""
        weights, bias = unpack_params(params)
        return replace(
            self, start_epoch=epoch, init_weights=tuple(weights.tolist()), init_bias=bias
        )


@dataclass(frozen=True)
class RegressionHistory:
    """Every recorded row, in the data's units: row k = state after epochs[k] updates."""

    epochs: np.ndarray  # (k,) int64
    loss: np.ndarray  # (k,)
    weights: np.ndarray  # (k, d)
    bias: np.ndarray  # (k,)

    def params(self, row: int) -> dict[str, Any]:
        """Return the params dict of one row."""
        return params_dict(self.weights[row], float(self.bias[row]))


@dataclass(frozen=True)
class RegressionResult:
    """Outcome of a run: final state, status and the full history."""

    status: Status
    weights: np.ndarray
    bias: float
    params: dict[str, Any]
    final_loss: float
    epochs_run: int  # the last recorded epoch number
    history: RegressionHistory

    def summary(self) -> dict[str, Any]:
        """Return the run row's `result` fields (least squares added by the caller)."""
        return {
            "params": self.params,
            "final_loss": finite_or_none(self.final_loss),
            "epochs_run": self.epochs_run,
        }


@dataclass(frozen=True)
class Analysis:
    """Stability of full-batch descent at the chosen learning rate."""

    lr_max: float
    lr_verdict: Literal["converges", "oscillates", "diverges"]

    def to_dict(self) -> dict[str, Any]:
        """Return the run row's `analysis` JSON."""
        return {"lr_max": finite_or_none(self.lr_max), "lr_verdict": self.lr_verdict}


def train_regression(
    X: ArrayLike,
    y: ArrayLike,
    config: RegressionConfig,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
) -> RegressionResult:
    """Fit y ≈ X·w + b by gradient descent; full batch costs O(d²) per epoch after one pass."""
    features, target = check_targets(X, y)
    norm = feature_normalizer(features, config.normalize)
    Xn = features if norm is None else norm.apply(features)
    w, b = initial_params(config, features.shape[1], norm)
    quad = Quadratic.from_data(Xn, target)
    step = config.learning_rate * (2.0 if config.gradient == "exact" else 1.0)
    loss0 = quad.loss(w, b)
    if config.batch_size is not None and config.batch_size < len(target):
        advance = _minibatch_advance(Xn, target, quad, step, config, should_stop)
    elif quad.d == 1:
        # One feature: the state is a Python float, not a 1-element array.
        advance = _scalar_advance(quad, step)
        return _descend(advance, float(w[0]), b, loss0, config, norm, on_epoch, should_stop)
    else:
        advance = _vector_advance(quad, step)
    return _descend(advance, w, b, loss0, config, norm, on_epoch, should_stop)


def _scalar_advance(quad: Quadratic, step: float) -> Advance:
    """One feature: plain Python floats, about a microsecond per epoch."""
    a0, b0, loss0 = float(quad.w0[0]), quad.b0, quad.loss0
    g0a, g0b = float(quad.g0w[0]), quad.g0b
    cxx, mx = float(quad.cov[0, 0]), float(quad.mean[0])

    def advance(epoch: int, a: float, b: float) -> tuple[float, float, float]:
        da, db = a - a0, b - b0
        s = mx * da + db
        a -= step * (g0a + cxx * da + mx * s)
        b -= step * (g0b + s)
        da, db = a - a0, b - b0
        s = mx * da + db
        return a, b, loss0 + 2.0 * (g0a * da + g0b * db) + cxx * da * da + s * s

    return advance


def _vector_advance(quad: Quadratic, step: float) -> Advance:
    """Several features: O(d²) numpy per epoch."""

    def advance(epoch: int, w: np.ndarray, b: float) -> tuple[np.ndarray, float, float]:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught by the caller
            gw, gb = quad.gradient(w, b)
            w = w - step * gw
            b = b - step * gb
            return w, b, quad.loss(w, b)

    return advance


class _Stopped(Exception):
    """should_stop() said yes in the middle of an epoch (that epoch is not recorded)."""


def _minibatch_advance(
    X: np.ndarray,
    y: np.ndarray,
    quad: Quadratic,
    step: float,
    config: RegressionConfig,
    should_stop: ShouldStop | None = None,
) -> Advance:
    """Shuffled mini-batches; the full-data loss of each row still comes from `quad`."""
    base = epoch_seed_base(config.seed)
    size = config.batch_size or len(y)
    # Cancel is also checked inside an epoch, every ~CHECK_ROWS rows: an epoch of many
    # small batches can take minutes, and should_stop is a cheap flag read.
    check_every = max(1, CHECK_ROWS // size) * size

    def advance(epoch: int, w: np.ndarray, b: float) -> tuple[np.ndarray, float, float]:
        order = epoch_order(base, epoch, len(y))
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught by the caller
            for start in range(0, len(y), size):
                if should_stop is not None and start % check_every == 0 and start and should_stop():
                    raise _Stopped
                idx = order[start : start + size]
                xb = X[idx]
                err = xb.dot(w) + b - y[idx]
                w = w - step * (err.dot(xb) / len(idx))
                b = b - step * float(err.mean())
            return w, b, quad.loss(w, b)

    return advance


def _descend(
    advance: Advance,
    w: Any,
    b: float,
    loss: float,
    config: RegressionConfig,
    norm: Normalizer | None,
    on_epoch: OnEpoch | None,
    should_stop: ShouldStop | None,
) -> RegressionResult:
    """Run the epochs: record rows, report them, stop on cancel or divergence."""
    weights, biases, losses = [w], array("d", [b]), array("d", [loss])
    if on_epoch is not None:
        on_epoch(epoch_record(config.start_epoch, w, b, loss, norm))
    bound = config.divergence_factor * loss if loss > 0 else math.inf
    status = Status.SUCCEEDED if math.isfinite(loss) else Status.DIVERGED
    epoch = config.start_epoch
    while status == Status.SUCCEEDED and epoch < config.epochs:
        if should_stop is not None and should_stop():
            status = Status.CANCELLED
            break
        try:
            w, b, loss = advance(epoch + 1, w, b)
        except _Stopped:  # mid-epoch: the epochs recorded so far stand
            status = Status.CANCELLED
            break
        if not math.isfinite(loss):
            status = Status.DIVERGED
            break
        epoch += 1
        weights.append(w)
        biases.append(b)
        losses.append(loss)
        if on_epoch is not None:
            on_epoch(epoch_record(epoch, w, b, loss, norm))
        if loss > bound:
            status = Status.DIVERGED
    return build_result(status, config.start_epoch, weights, biases, losses, norm)


def build_result(
    status: Status,
    start_epoch: int,
    weights: list[Any],
    biases: Any,
    losses: Any,
    norm: Normalizer | None,
) -> RegressionResult:
    """Assemble a result from per-row parameters in the (possibly normalised) training space."""
    k = len(losses)
    W = np.array(weights, dtype=np.float64).reshape(k, -1)
    B = np.array(biases, dtype=np.float64)
    if norm is not None:
        W, B = norm.to_data(W, B)
    history = RegressionHistory(
        epochs=np.arange(start_epoch, start_epoch + k, dtype=np.int64),
        loss=np.array(losses, dtype=np.float64),
        weights=W,
        bias=B,
    )
    return RegressionResult(
        status=status,
        weights=W[-1].copy(),
        bias=float(B[-1]),
        params=history.params(k - 1),
        final_loss=float(history.loss[-1]),
        epochs_run=start_epoch + k - 1,
        history=history,
    )


def epoch_record(epoch: int, w: Any, b: float, loss: float, norm: Normalizer | None) -> EpochRecord:
    """Return the on_epoch record of one row, params in the data's units."""
    if norm is None and type(w) is float:
        # One raw feature (the scalar loop): the floats are the params, as the arrays below
        # would give them back, without their ~4 µs per record.
        return EpochRecord(epoch=epoch, loss=loss, params={"a": w, "b": float(b)})
    W, B = np.atleast_1d(np.asarray(w, dtype=np.float64))[np.newaxis, :], np.array([b])
    if norm is not None:
        W, B = norm.to_data(W, B)
    return EpochRecord(epoch=epoch, loss=loss, params=params_dict(W[0], float(B[0])))


def initial_params(
    config: RegressionConfig, d: int, norm: Normalizer | None
) -> tuple[np.ndarray, float]:
    """Return the initial (w, b) in the training space."""
    w = np.zeros(d) if config.init_weights is None else np.array(config.init_weights, float)
    if w.shape == (1,):
        w = np.full(d, w[0])
    if w.shape != (d,):
        raise InvalidData(f"init has {len(w)} weights but the data has {d} features")
    b = float(config.init_bias)
    return (w, b) if norm is None else norm.to_normalized(w, b)


def analyze(X: ArrayLike, y: ArrayLike, config: RegressionConfig) -> Analysis:
    """Return lr_max = 2/λ_max of the full-batch curvature and the verdict for config's lr."""
    features, target = check_targets(X, y)
    norm = feature_normalizer(features, config.normalize)
    quad = Quadratic.from_data(features if norm is None else norm.apply(features), target)
    factor = 2.0 if config.gradient == "exact" else 1.0
    lam = factor * float(np.linalg.eigvalsh(quad.curvature())[-1])
    lr = config.learning_rate
    # Each eigen-direction is scaled by (1 − lr·λ) per full-batch step: monotone while that
    # is ≥ 0 for every λ, alternating in sign but shrinking below 2/λ_max, growing beyond.
    if lr * lam <= 1.0:
        verdict: Literal["converges", "oscillates", "diverges"] = "converges"
    elif lr * lam < 2.0:
        verdict = "oscillates"
    else:
        verdict = "diverges"
    return Analysis(lr_max=2.0 / lam, lr_verdict=verdict)


def feature_normalizer(features: np.ndarray, mode: Normalize) -> Normalizer | None:
    """Return the map for `mode` fitted on the features, or None for "none" (no work at all)."""
    return None if mode == "none" else Normalizer.fit(mode, features)


def epoch_seed_base(seed: int | None) -> int:
    """Return the run's shuffle seed: `seed`, or fresh entropy when None."""
    return int(np.random.SeedSequence(seed).entropy)  # type: ignore[arg-type]


def epoch_order(base: int, epoch: int, n: int) -> np.ndarray:
    """Return the row order of one mini-batch epoch, a function of (seed, epoch) only."""
    return np.random.default_rng([base, epoch]).permutation(n)
