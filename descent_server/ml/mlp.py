"""The MLP classifier engine: Keras 3 trains, every epoch is recorded as it happens.

One `model.fit` runs all epochs (one backend call per epoch, or per ~cancel_check_s of work
for big epochs, so a cancel lands inside them: steps_per_execution); a Keras
callback records each epoch at its end (validation metrics, per-layer weight norms, gradient
norms by our own numpy backpropagation, the decision-boundary snapshot as one batched forward
pass over the grid) and stops fit when asked. Forward passes over small work run in numpy on
the weights already fetched; big ones (many rows × parameters) on the backend's device.
Only backend-neutral Keras APIs are used, so the same code runs on TensorFlow, JAX or
PyTorch. Keras is imported on first use, never at module import.

Numbers: epoch 0 is the model before training, its loss/accuracy taken over the whole
training split. For epochs >= 1, loss/accuracy are what Keras's fit reports (the mean over
that epoch's batches, as the course notebook prints them); val_loss/val_accuracy are taken
at the weights after the epoch. Snapshots are taken every `snapshot_every` epochs, at
epoch 0, and at the last epoch, when the data has exactly two features (otherwise they are
skipped silently: a boundary over more than two inputs has no picture; so are they beyond
256 classes, as a grid cell is one byte).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent_server.ml import keras_backend as kb
from descent_server.ml.backprop import (
    Network,
    layer_norms,
    loss_and_gradients,
    loss_from_probabilities,
)
from descent_server.ml.keras_backend import device_info
from descent_server.ml.mlp_config import MAX_FULL_WEIGHTS, MLPConfig, config_from_hyperparameters
from descent_server.ml.mlp_data import (
    check_data,
    count_params,
    snapshot_extent,
    snapshot_points,
    split_rows,
)
from descent_server.ml.mlp_model import MLPModel, Normalizer, TrainingState
from descent_server.ml.regression import epoch_order
from descent_server.ml.types import EpochRecord, InvalidData, OnEpoch, ShouldStop

__all__ = [
    "MLPConfig", "MLPModel", "MLPResult", "check_data", "config_from_hyperparameters",
    "count_params", "device_info", "mlp_analysis", "snapshot_extent", "snapshot_points",
    "split_rows", "train_mlp",
]  # fmt: skip

GRAD_ROWS = 2000  # gradient norms use at most this many training rows (a fixed random subset)
# Cancel inside an epoch: fit runs `steps_per_execution` batches per backend call and checks
# should_stop between calls, so a call is sized to take about cancel_check_s by this estimate
# of a CPU step (fixed overhead + forward and backward multiply-adds); faster devices check
# more often than needed, which costs little.
STEP_OVERHEAD_S = 1e-4
MULTIPLY_ADD_S = 5e-9  # per sample and parameter, forward + backward + update (batch 1)
NUMPY_FORWARD_WORK = 50_000_000  # rows × parameters up to which numpy does forward passes
DIVERGENCE_FACTOR = 1e6  # a loss this many times the first recorded one has diverged
OnModel = Callable[[int, MLPModel], None]


@dataclass
class MLPResult:
    """What training produced: status, final model, the recorded history and where it ran."""

    status: str  # "succeeded" | "diverged" | "cancelled"
    model: MLPModel  # the weights of the last recorded (finite) epoch
    keras_model: Any
    history: list[EpochRecord]
    metrics: dict[str, float | None]
    extent: list[float] | None
    resolution: int | None
    backend: str
    device: str
    seed: int
    n_params: int
    epochs_run: int = 0
    # Wall seconds: the whole call, inside the per-epoch recorder, drawing snapshots.
    timings: dict[str, float] = field(default_factory=dict)


def _n_outputs(config: MLPConfig, n_classes: int) -> int:
    return 1 if n_classes == 2 and config.output_for(n_classes) == "sigmoid" else n_classes


def mlp_analysis(x: np.ndarray, classes: Sequence[Any], config: MLPConfig) -> dict[str, Any]:
    """Return the run's analysis dict known before training (API.md's MLP `analysis`)."""
    out: dict[str, Any] = {
        "classes": [c.item() if isinstance(c, np.generic) else c for c in classes],
        "n_params": count_params(
            x.shape[1], config.hidden_layers, _n_outputs(config, len(classes))
        ),
        "snapshot_every": config.snapshot_every,
    }
    if x.shape[1] == 2 and config.snapshot_every > 0:
        out["extent"] = snapshot_extent(np.asarray(x, dtype=np.float64))
        out["resolution"] = config.snapshot_resolution
    return out


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    pred = (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else np.argmax(p, axis=1)
    return float(np.mean(pred == y))


def _interleave(kernels: list[np.ndarray], biases: list[np.ndarray]) -> list[np.ndarray]:
    # Keras's get_weights()/set_weights() order: kernel, bias of layer 1, then layer 2...
    return [a for pair in zip(kernels, biases, strict=True) for a in pair]


Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs (float32), targets, class indices


class _Recorder:
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
        self.history: list[EpochRecord] = []
        self.weights: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        self.status = "succeeded"
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
        accuracy: float | None
        if logs is None:
            p = self._predict(self.train[0], kernels, biases)
            loss = loss_from_probabilities(self.loss, self.train[1], p)
            accuracy = _accuracy(p, self.train[2])
        else:
            loss, accuracy = logs.get("loss"), logs.get("accuracy")
        if not self._sane(loss) or not all(np.all(np.isfinite(w)) for w in weights):
            self.status = "diverged"  # the history ends at the last sane epoch
            return True
        net = Network([w.astype(np.float64) for w in kernels],
                      [b.astype(np.float64) for b in biases],
                      self.config.activation, self.output)  # fmt: skip
        _, grad_w, grad_b = loss_and_gradients(net, self.grad[0], self.grad[1], self.loss)
        val_loss = val_acc = None
        if self.val is not None:
            p = self._predict(self.val[0], kernels, biases)
            val_loss = loss_from_probabilities(self.loss, self.val[1], p)
            val_acc = _accuracy(p, self.val[2])
        record = EpochRecord(
            epoch=epoch,
            loss=float(loss),  # type: ignore[arg-type]
            val_loss=val_loss,
            accuracy=None if accuracy is None else float(accuracy),
            val_accuracy=val_acc,
            params=self._params(kernels, biases),
            grad_norms=dict(zip(self.names, layer_norms(grad_w, grad_b), strict=True)),
            weight_norms=dict(zip(self.names, layer_norms(kernels, biases), strict=True)),
            snapshot=self._snapshot(epoch, kernels, biases),
        )
        self.weights = (kernels, biases)
        self.history.append(record)
        if self.on_epoch is not None:
            self.on_epoch(record)
        if self.on_model is not None:
            self.on_model(epoch, self.make_model(kernels, biases, epoch))  # with its state
        if self.should_stop is not None and self.should_stop():
            self.status = "cancelled"
            return True
        return False

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
        if self.grid.shape[0] * self.n_params <= NUMPY_FORWARD_WORK:
            net = Network(kernels, biases, self.config.activation, self.output)
            cls = net.predict_class(self.grid)
        else:
            p = kb.predict(self.model, self.grid)
            cls = (p[:, 0] > 0.5) if p.shape[1] == 1 else np.argmax(p, axis=1)
        res = self.config.snapshot_resolution
        self.seconds["snapshot"] += time.perf_counter() - start
        return cls.astype(np.uint8).reshape(res, res)


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    # The recorder's matrices are small: OpenBLAS's threads only fight the backend's own
    # threads for the cores (measured 10x slower gradients on 2 busy cores), so use one.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, not a requirement
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _callback(
    keras: Any, recorder: _Recorder, should_stop: ShouldStop | None, check_s: float
) -> Any:
    class EpochRecorder(keras.callbacks.Callback):
        checked = time.monotonic()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            # After each backend call (steps_per_execution batches), at most every check_s.
            now = time.monotonic()
            if should_stop is None or now - self.checked < check_s:
                return
            self.checked = now
            if should_stop():
                recorder.status, recorder.mid_epoch = "cancelled", True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if recorder.mid_epoch:  # fit still ends the broken epoch: it is not one
                return
            if recorder.record(epoch + 1, logs or {}):
                self.model.stop_training = True

    return EpochRecorder()


def steps_per_execution(steps: int, batch_size: int, n_params: int, cancel_check_s: float) -> int:
    """Return how many batches one backend call runs: about cancel_check_s of work, 1..steps."""
    step_s = STEP_OVERHEAD_S + MULTIPLY_ADD_S * batch_size * n_params
    return max(1, min(steps, int(cancel_check_s / step_s)))


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[Any],
    config: MLPConfig,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
    *,
    on_model: OnModel | None = None,
    initial_model: MLPModel | None = None,
    start_epoch: int = 0,
    cancel_check_s: float = 0.5,
) -> MLPResult:
    """Train an MLP classifier on X (n, d) and class indices y, recording every epoch.

    on_model(epoch, model) gets the weights after each recorded epoch (for a weights artifact);
    initial_model + start_epoch resume a run: no epoch-0 record, epochs start_epoch+1.. follow.
    should_stop is also polled inside an epoch, at most every cancel_check_s.
    """
    started = time.perf_counter()
    x, labels = check_data(X, y, classes)
    if start_epoch < 0 or (start_epoch > 0 and initial_model is None):
        raise ValueError("resuming at start_epoch > 0 needs the initial_model saved then")
    k, d = len(classes), x.shape[1]
    output, loss = config.output_for(k), config.loss_for(k)
    n_out = _n_outputs(config, k)
    n_params = count_params(d, config.hidden_layers, n_out)
    if config.weights == "full" and n_params > MAX_FULL_WEIGHTS:
        raise InvalidData(
            f'weights="full" allows up to {MAX_FULL_WEIGHTS} parameters, not {n_params}'
        )
    state = initial_model.state if initial_model is not None else None
    if state is not None and state.epoch != start_epoch:
        raise ValueError(f"the training state is of epoch {state.epoch}, not {start_epoch}")
    seed = state.seed if state is not None else config.seed  # resumed: the seed used then
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    normalizer = initial_model.normalizer if initial_model else Normalizer.fit(config.normalize, x)
    xn = normalizer.apply(x)
    targets = labels[:, None].astype(np.float64) if n_out == 1 else np.eye(k)[labels]
    train, val = split_rows(labels, config.validation_split, config.validation, seed)
    if train.size == 0:
        raise InvalidData("no training rows are left after the validation split")

    keras = kb.keras_module()
    keras.backend.clear_session(free_memory=False)  # drop earlier runs; gc is the caller's
    kb.seed_everything(seed)
    model = kb.build_model(d, config.hidden_layers, config.activation, n_out, output, seed)
    steps = math.ceil(train.size / config.batch_size)
    model.compile(
        optimizer=kb.make_optimizer(config.optimizer, config.learning_rate, config.momentum),
        loss=loss,
        metrics=[kb.accuracy_metric(n_out)],
        # One backend call per epoch for small work, instead of one per batch; big epochs
        # are split so that cancel is seen within about cancel_check_s.
        steps_per_execution=steps_per_execution(steps, config.batch_size, n_params, cancel_check_s),
    )
    if initial_model is not None:
        model.set_weights(_interleave(initial_model.kernels, initial_model.biases))
    if state is not None:  # an exact resume: the optimizer goes on where it was
        kb.set_optimizer_state(model, state.optimizer)

    def make_model(kernels: list[np.ndarray], biases: list[np.ndarray],
                   epoch: int | None = None) -> MLPModel:  # fmt: skip
        # With the epoch just trained: the model to resume from carries the optimizer's state.
        now = None if epoch is None else TrainingState(epoch, seed, kb.optimizer_state(model))
        return MLPModel(list(kernels), list(biases), config.activation, output, normalizer,
                        list(classes), state=now)  # fmt: skip

    grad_rows = np.random.default_rng(seed).permutation(train)[:GRAD_ROWS]
    extent = snapshot_extent(x) if d == 2 and config.snapshot_every > 0 and k <= 256 else None
    x32 = xn.astype(np.float32)
    recorder = _Recorder(
        model=model, config=config, output=output, loss=loss,
        names=kb.layer_names(len(config.hidden_layers)),
        train=(x32[train], targets[train], labels[train]),
        val=(x32[val], targets[val], labels[val]) if val.size else None, n_params=n_params,
        grad=(xn[grad_rows], targets[grad_rows]),
        grid=None if extent is None else
        normalizer.apply(snapshot_points(extent, config.snapshot_resolution)).astype(np.float32),
        on_epoch=on_epoch, should_stop=should_stop, make_model=make_model, on_model=on_model,
    )  # fmt: skip

    with _one_blas_thread():
        stop = recorder.record(0, None) if start_epoch == 0 else False
        if not stop and config.epochs > start_epoch:
            # Batches in an order drawn per (seed, epoch): a resumed fit repeats them exactly.
            feed, reorder = kb.epoch_batches(
                model, x32[train], targets[train].astype(np.float32), config.batch_size,
                lambda e: epoch_order(seed, e + 1, train.size), range(start_epoch, config.epochs),
            )  # fmt: skip
            model.fit(
                **feed, epochs=config.epochs, initial_epoch=start_epoch, shuffle=False, verbose=0,
                callbacks=[*reorder, _callback(keras, recorder, should_stop, cancel_check_s)],
            )  # fmt: skip

    if recorder.weights is not None:
        kernels, biases = recorder.weights
    elif initial_model is not None:  # resumed with no epoch left, or diverged at once
        kernels, biases = initial_model.kernels, initial_model.biases
    else:  # the very first record (epoch 0) was not finite
        raise InvalidData("the model's loss was not finite at the start of training")
    if recorder.status == "diverged" or recorder.mid_epoch:  # back to the last recorded epoch
        model.set_weights(_interleave(kernels, biases))
    last = recorder.history[-1] if recorder.history else None
    device, backend = device_info()
    return MLPResult(
        status=recorder.status,
        model=make_model(kernels, biases),
        keras_model=model,
        history=recorder.history,
        metrics={
            name: None if last is None else getattr(last, name)
            for name in ("loss", "val_loss", "accuracy", "val_accuracy")
        },
        extent=extent,
        resolution=config.snapshot_resolution if extent is not None else None,
        backend=backend,
        device=device,
        seed=seed,
        n_params=n_params,
        epochs_run=start_epoch if last is None else last.epoch,
        timings={"total": time.perf_counter() - started, **recorder.seconds},
    )
