"""What the MLP engine does at each epoch's end: measure, record, snapshot, decide to stop.

The recorder reads the model's weights once per epoch and does the rest in numpy: validation
metrics, per-layer weight norms, gradient norms by our own backpropagation, and the snapshot
(a classifier's decision-boundary grid, a regressor's fitted curve) as one batched forward
pass. Forward passes over small work run in numpy on the weights already fetched; big ones
(many rows × parameters) on the backend's device.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from descent_server.domain import Status
from descent_server.ml import keras_backend as kb
from descent_server.ml.backprop import (
    Network,
    dead_unit_shares,
    layer_norms,
    loss_and_gradients,
    loss_from_probabilities,
)
from descent_server.ml.mlp_config import MLPConfig
from descent_server.ml.mlp_model import MLPModel
from descent_server.ml.types import EpochRecord, OnEpoch, ShouldStop

NUMPY_FORWARD_WORK = 50_000_000  # rows × parameters up to which numpy does forward passes
DIVERGENCE_FACTOR = 1e6  # a loss this many times the first recorded one has diverged
OnModel = Callable[[int, MLPModel], None]


@dataclass(frozen=True)
class Split:
    """Rows of one split: float32 inputs, float64 targets (n, units), class indices or None."""

    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray | None  # None for a regressor


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    pred = (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else np.argmax(p, axis=1)
    return float(np.mean(pred == y))


class Recorder:
    """Turns the model's state at an epoch's end into an EpochRecord and decides on stopping."""

    def __init__(self, *, model: Any, config: MLPConfig, output: str, loss: str, names: list[str],
                 train: Split, val: Split | None, grad: tuple[np.ndarray, np.ndarray],
                 grid: np.ndarray | None, n_params: int,
                 on_epoch: OnEpoch | None, should_stop: ShouldStop | None,
                 make_model: Callable[..., MLPModel],
                 on_model: OnModel | None) -> None:  # fmt: skip
        self.model, self.config, self.names = model, config, names
        self.output, self.loss, self.n_params = output, loss, n_params
        self.train, self.val, self.grad, self.grid = train, val, grad, grid
        self.on_epoch, self.should_stop = on_epoch, should_stop
        self.make_model, self.on_model = make_model, on_model
        # The second metric beside the loss: Keras logs it under this name.
        self.score = "mae" if config.regression else "accuracy"
        self.history: list[EpochRecord] = []
        self.weights: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        self.status = Status.SUCCEEDED
        self.mid_epoch = False  # cancelled inside an epoch: that partial epoch is not recorded
        self.seconds = {"record": 0.0, "snapshot": 0.0}

    def record(self, epoch: int, logs: dict[str, Any] | None) -> bool:
        """Record `epoch` (logs None: measure the training split); return True to stop."""
        start = time.perf_counter()
        try:
            return self._record(epoch, logs)
        finally:
            self.seconds["record"] += time.perf_counter() - start

    def _record(self, epoch: int, logs: dict[str, Any] | None) -> bool:
        weights = kb.get_weights(self.model)
        kernels, biases = weights[0::2], weights[1::2]
        loss: float | None
        score: float | None
        if logs is None:
            loss, score = self._measure(self.train, kernels, biases)
        else:
            loss, score = logs.get("loss"), logs.get(self.score)
        if not self._sane(loss) or not all(np.all(np.isfinite(w)) for w in weights):
            self.status = Status.DIVERGED  # the history ends at the last sane epoch
            return True
        net = Network([w.astype(np.float64) for w in kernels],
                      [b.astype(np.float64) for b in biases],
                      self.config.activation, self.output)  # fmt: skip
        _, grad_w, grad_b = loss_and_gradients(net, self.grad[0], self.grad[1], self.loss)
        val_loss = val_score = None
        if self.val is not None:
            val_loss, val_score = self._measure(self.val, kernels, biases)
        score = None if score is None else float(score)
        scores = {self.score: score, f"val_{self.score}": val_score}
        record = EpochRecord(
            epoch=epoch,
            loss=float(loss),  # type: ignore[arg-type]
            val_loss=val_loss,
            params=self._params(kernels, biases),
            grad_norms=dict(zip(self.names, layer_norms(grad_w, grad_b), strict=True)),
            weight_norms=dict(zip(self.names, layer_norms(kernels, biases), strict=True)),
            dead_units=dict(zip(self.names, dead_unit_shares(net, self.grad[0]), strict=False)),
            snapshot=self._snapshot(epoch, kernels, biases),
            **scores,
        )
        self.weights = (kernels, biases)
        self.history.append(record)
        if self.on_epoch is not None:
            self.on_epoch(record)
        if self.on_model is not None:
            self.on_model(epoch, self.make_model(kernels, biases, epoch))  # with its state
        if self.should_stop is not None and self.should_stop():
            self.status = Status.CANCELLED
            return True
        return False

    def _measure(
        self, split: Split, kernels: list[np.ndarray], biases: list[np.ndarray]
    ) -> tuple[float, float]:
        """Return (loss, accuracy or mae) of the model on one split."""
        p = self._predict(split.inputs, kernels, biases)
        loss = loss_from_probabilities(self.loss, split.targets, p)
        if split.labels is None:
            return loss, float(np.mean(np.abs(p[:, 0] - split.targets[:, 0])))
        return loss, _accuracy(p, split.labels)

    def _sane(self, loss: float | None) -> bool:
        if loss is None or not math.isfinite(loss):
            return False
        return not self.history or loss <= DIVERGENCE_FACTOR * max(self.history[0].loss or 0, 1e-12)

    def _predict(
        self, x: np.ndarray, kernels: list[np.ndarray], biases: list[np.ndarray]
    ) -> np.ndarray:
        # Small work: numpy on the weights already fetched beats a backend call's overhead;
        # big work (large data, wide layers): the backend's device does it.
        if x.shape[0] * self.n_params <= NUMPY_FORWARD_WORK:
            net = Network(kernels, biases, self.config.activation, self.output)
            return net.predict(x).astype(np.float64)
        return kb.predict(self.model, x)

    def _params(self, kernels: list[np.ndarray], biases: list[np.ndarray]) -> dict[str, Any]:
        if self.config.weights != "full":
            return {}
        params: dict[str, Any] = {}
        for name, w, b in zip(self.names, kernels, biases, strict=True):
            params[f"{name}/kernel"], params[f"{name}/bias"] = w.tolist(), b.tolist()
        return params

    def _snapshot(
        self, epoch: int, kernels: list[np.ndarray], biases: list[np.ndarray]
    ) -> np.ndarray | None:
        every = self.config.snapshot_every
        if self.grid is None or not (epoch % every == 0 or epoch == self.config.epochs):
            return None
        start = time.perf_counter()
        try:
            if self.config.regression:  # the fitted curve: the predicted value per grid x
                return self._predict(self.grid, kernels, biases)[:, 0].astype(np.float32)
            return self._classes(kernels, biases)
        finally:
            self.seconds["snapshot"] += time.perf_counter() - start

    def _classes(self, kernels: list[np.ndarray], biases: list[np.ndarray]) -> np.ndarray:
        """Return the predicted class per grid point as a uint8 (resolution, resolution) grid."""
        assert self.grid is not None
        if self.grid.shape[0] * self.n_params <= NUMPY_FORWARD_WORK:
            net = Network(kernels, biases, self.config.activation, self.output)
            cls = net.predict_class(self.grid)
        else:
            p = kb.predict(self.model, self.grid)
            cls = (p[:, 0] > 0.5) if p.shape[1] == 1 else np.argmax(p, axis=1)
        res = self.config.snapshot_resolution
        return cls.astype(np.uint8).reshape(res, res)


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit OpenBLAS to one thread while the recorder's small matrices are multiplied."""
    # OpenBLAS's threads only fight the backend's own threads for the cores (measured 10x
    # slower gradients on 2 busy cores), so use one.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, not a requirement
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def keras_callback(
    keras: Any, recorder: Recorder, should_stop: ShouldStop | None, check_s: float
) -> Any:
    """Return the Keras callback that records each epoch and polls should_stop inside them."""

    class EpochRecorder(keras.callbacks.Callback):
        checked = time.monotonic()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            # After each backend call (steps_per_execution batches), at most every check_s.
            now = time.monotonic()
            if should_stop is None or now - self.checked < check_s:
                return
            self.checked = now
            if should_stop():
                recorder.status, recorder.mid_epoch = Status.CANCELLED, True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if recorder.mid_epoch:  # fit still ends the broken epoch: it is not one
                return
            if recorder.record(epoch + 1, logs or {}):
                self.model.stop_training = True

    return EpochRecorder()
