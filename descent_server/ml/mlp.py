"""The MLP engine (classifier or regressor): Keras 3 trains, every epoch is recorded as it happens.

One `model.fit` runs all epochs (one backend call per epoch, or per ~cancel_check_s of work
for big epochs, so a cancel lands inside them: steps_per_execution); a Keras callback records
each epoch at its end (see mlp_recorder: validation metrics, per-layer weight norms, gradient
norms by our own numpy backpropagation, the snapshot) and stops fit when asked.
Only backend-neutral Keras APIs are used, so the same code runs on TensorFlow, JAX or
PyTorch. Keras is imported on first use, never at module import.

Numbers: epoch 0 is the model before training, its loss/accuracy (a regressor: loss/mae)
taken over the whole training split. For epochs >= 1, loss and accuracy (mae) are what
Keras's fit reports (the mean over that epoch's batches, as the course notebook prints them);
val_loss/val_accuracy (val_mae) are taken at the weights after the epoch.

Snapshots are taken every `snapshot_every` epochs, at epoch 0, and at the last epoch: for a
classifier, the predicted class on a resolution² grid (skipped beyond 256 classes, as a grid
cell is one byte), over its two features or, with more, over the plane of the first two
principal components of the normalized inputs through their mean (ml/projection: the
extent is then in plane coordinates); for a regressor with one feature, the fitted curve's
values at `resolution` evenly spaced x (skipped silently otherwise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descent_server.domain import Status
from descent_server.ml import keras_backend as kb
from descent_server.ml.checks import check_labels, check_targets
from descent_server.ml.keras_backend import device_info
from descent_server.ml.mlp_config import MLPConfig, param_count
from descent_server.ml.mlp_data import (
    count_params,
    fit_extent,
    fit_points,
    snapshot_extent,
    snapshot_points,
    split_rows,
)
from descent_server.ml.mlp_model import MLPModel, Normalizer, TrainingState
from descent_server.ml.mlp_recorder import (
    OnModel,
    Recorder,
    Split,
    keras_callback,
    one_blas_thread,
)
from descent_server.ml.projection import PCAPlane
from descent_server.ml.regression import epoch_order
from descent_server.ml.types import EpochRecord, InvalidData, OnEpoch, ShouldStop

__all__ = [
    "MLPConfig", "MLPModel", "MLPResult", "count_params",
    "device_info", "fit_extent", "fit_points", "mlp_analysis", "param_count", "snapshot_extent",
    "snapshot_points", "split_rows", "train_mlp",
]  # fmt: skip

GRAD_ROWS = 2000  # gradient norms use at most this many training rows (a fixed random subset)
# Cancel inside an epoch: fit runs `steps_per_execution` batches per backend call and checks
# should_stop between calls, so a call is sized to take about cancel_check_s by this estimate
# of a CPU step (fixed overhead + forward and backward multiply-adds); faster devices check
# more often than needed, which costs little.
STEP_OVERHEAD_S = 1e-4
MULTIPLY_ADD_S = 5e-9  # per sample and parameter, forward + backward + update (batch 1)
CLASSIFIER_METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")
REGRESSOR_METRICS = ("loss", "val_loss", "mae", "val_mae")


@dataclass
class MLPResult:
    """What training produced: status, final model, the recorded history and where it ran."""

    status: Status  # succeeded, diverged or cancelled
    model: MLPModel  # the weights of the last recorded (finite) epoch
    keras_model: Any
    history: list[EpochRecord]
    metrics: dict[str, float | None]  # a classifier's accuracy, or a regressor's mae
    # [x1min, x1max, x2min, x2max] (in plane coordinates with a projection), a regressor's
    # [xmin, xmax]
    extent: list[float] | None
    resolution: int | None
    backend: str
    device: str
    seed: int
    n_params: int
    epochs_run: int = 0
    # Wall seconds: the whole call, inside the per-epoch recorder, drawing snapshots.
    timings: dict[str, float] = field(default_factory=dict)
    # More than two features: the PCA plane the snapshots lie on (PCAPlane.to_dict()).
    projection: dict[str, Any] | None = None


def _extent(
    x: np.ndarray, n_classes: int, config: MLPConfig, normalizer: Normalizer
) -> tuple[list[float] | None, PCAPlane | None]:
    """Return the snapshot grid's extent (None: no snapshots) and the PCA plane it lies on."""
    d = x.shape[1]
    if config.snapshot_every <= 0:
        return None, None
    if config.regression:
        return (fit_extent(x) if d == 1 else None), None
    if n_classes > 256 or d < 2:
        return None, None
    if d == 2:
        return snapshot_extent(x), None
    if x.shape[0] < 2:
        return None, None
    # Fitted on every row given (as the normalizer is), so the analysis made before training
    # (which knows no seed, hence no validation split) and training agree on the plane.
    xn = normalizer.apply(x)
    plane = PCAPlane.fit(xn, normalizer)
    return snapshot_extent(plane.project(xn)), plane


def _grid(
    extent: list[float], plane: PCAPlane | None, normalizer: Normalizer, config: MLPConfig
) -> np.ndarray:
    """Return the snapshot grid's points as the network's (normalized) float32 inputs."""
    if config.regression:
        points = fit_points(extent, config.snapshot_resolution)
    else:
        points = snapshot_points(extent, config.snapshot_resolution)
    if plane is not None:  # (u, v) on the plane, lifted into the normalized feature space
        return plane.lift(points).astype(np.float32)
    return normalizer.apply(points).astype(np.float32)


def mlp_analysis(x: np.ndarray, classes: Sequence[Any], config: MLPConfig) -> dict[str, Any]:
    """Return the run's analysis dict known before training (a regressor: classes empty).

    With snapshots: "extent" and "resolution"; a classifier of more than two features also
    gets "projection" (PCAPlane.to_dict(): the plane its snapshots lie on).
    """
    x = np.asarray(x, dtype=np.float64)
    out: dict[str, Any] = {
        "n_params": param_count(config, x.shape[1], len(classes)),
        "snapshot_every": config.snapshot_every,
    }
    if not config.regression:
        out["classes"] = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if x.shape[0]:
        extent, plane = _extent(x, len(classes), config, Normalizer.fit(config.normalize, x))
        if extent is not None:
            out["extent"] = extent
            out["resolution"] = config.snapshot_resolution
        if extent is not None and plane is not None:
            out["projection"] = plane.to_dict()
    return out


def _interleave(kernels: list[np.ndarray], biases: list[np.ndarray]) -> list[np.ndarray]:
    # Keras's get_weights()/set_weights() order: kernel, bias of layer 1, then layer 2...
    return [a for pair in zip(kernels, biases, strict=True) for a in pair]


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
    """Train an MLP on X (n, d): class indices y (classifier) or numbers y (regressor, no classes).

    on_model(epoch, model) gets the weights after each recorded epoch (for a weights artifact);
    initial_model + start_epoch resume a run: no epoch-0 record, epochs start_epoch+1.. follow.
    should_stop is also polled inside an epoch, at most every cancel_check_s.
    """
    started = time.perf_counter()
    x, targets, labels = check_data(X, y, classes, config)
    if start_epoch < 0 or (start_epoch > 0 and initial_model is None):
        raise ValueError("resuming at start_epoch > 0 needs the initial_model saved then")
    k, d = len(classes), x.shape[1]
    output, loss = config.output_for(k), config.loss_for(k)
    n_out = config.n_outputs(k)
    n_params = count_params(d, config.hidden_layers, n_out)
    state = initial_model.state if initial_model is not None else None
    if state is not None and state.epoch != start_epoch:
        raise ValueError(f"the training state is of epoch {state.epoch}, not {start_epoch}")
    seed = state.seed if state is not None else config.seed  # resumed: the seed used then
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    normalizer = initial_model.normalizer if initial_model else Normalizer.fit(config.normalize, x)
    xn = normalizer.apply(x)
    train, val = split_rows(
        targets[:, 0] if labels is None else labels, config.validation_split, config.validation,
        seed, stratify=labels is not None,
    )  # fmt: skip
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
        metrics=[kb.mae_metric() if config.regression else kb.accuracy_metric(n_out)],
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
    extent, plane = _extent(x, k, config, normalizer)
    x32 = xn.astype(np.float32)

    def split(rows: np.ndarray) -> Split:
        return Split(x32[rows], targets[rows], None if labels is None else labels[rows])

    recorder = Recorder(
        model=model, config=config, output=output, loss=loss,
        names=kb.layer_names(len(config.hidden_layers)),
        train=split(train), val=split(val) if val.size else None, n_params=n_params,
        grad=(xn[grad_rows], targets[grad_rows]),
        grid=None if extent is None else _grid(extent, plane, normalizer, config),
        on_epoch=on_epoch, should_stop=should_stop, make_model=make_model, on_model=on_model,
    )  # fmt: skip

    with one_blas_thread():
        stop = recorder.record(0, None) if start_epoch == 0 else False
        if not stop and config.epochs > start_epoch:
            # Batches in an order drawn per (seed, epoch): a resumed fit repeats them exactly.
            feed, reorder = kb.epoch_batches(
                model, x32[train], targets[train].astype(np.float32), config.batch_size,
                lambda e: epoch_order(seed, e + 1, train.size), range(start_epoch, config.epochs),
            )  # fmt: skip
            model.fit(
                **feed, epochs=config.epochs, initial_epoch=start_epoch, shuffle=False, verbose=0,
                callbacks=[*reorder, keras_callback(keras, recorder, should_stop, cancel_check_s)],
            )  # fmt: skip

    if recorder.weights is not None:
        kernels, biases = recorder.weights
    elif initial_model is not None:  # resumed with no epoch left, or diverged at once
        kernels, biases = initial_model.kernels, initial_model.biases
    else:  # the very first record (epoch 0) was not finite
        raise InvalidData("the model's loss was not finite at the start of training")
    if recorder.status == Status.DIVERGED or recorder.mid_epoch:  # back to the last recorded epoch
        model.set_weights(_interleave(kernels, biases))
    last = recorder.history[-1] if recorder.history else None
    device, backend = device_info()
    names = REGRESSOR_METRICS if config.regression else CLASSIFIER_METRICS
    return MLPResult(
        status=recorder.status,
        model=make_model(kernels, biases),
        keras_model=model,
        history=recorder.history,
        metrics={name: None if last is None else getattr(last, name) for name in names},
        extent=extent,
        resolution=config.snapshot_resolution if extent is not None else None,
        backend=backend,
        device=device,
        seed=seed,
        n_params=n_params,
        epochs_run=start_epoch if last is None else last.epoch,
        timings={"total": time.perf_counter() - started, **recorder.seconds},
        projection=None if plane is None or extent is None else plane.to_dict(),
    )


def check_data(
    X: Any, y: Any, classes: Sequence[Any], config: MLPConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (features, float64 targets (n, units), class indices or None for a regressor)."""
    if config.regression:
        if len(classes):
            raise ValueError("a regressor has no classes: pass an empty sequence")
        x, values = check_targets(X, y, min_rows=2)
        return x, values[:, None], None
    x, labels = check_labels(X, y, classes)
    n_out = config.n_outputs(len(classes))
    targets = labels[:, None].astype(np.float64) if n_out == 1 else np.eye(len(classes))[labels]
    return x, targets, labels
