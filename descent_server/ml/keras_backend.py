"""Lazy Keras: imported on first use, GPU memory taken as needed, device named for the run row.

Importing this module imports neither Keras nor a backend; the backend is whatever
KERAS_BACKEND says when `keras_module()` first runs (the worker sets it from settings).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def keras_module() -> Any:
    """Import Keras once, with its backend told not to reserve the whole GPU up front."""
    # Must be set before JAX initialises; a setdefault so an operator's choice still wins.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            # RuntimeError: the GPU was initialised already (memory growth is fixed then).
            with contextlib.suppress(RuntimeError):
                tf.config.experimental.set_memory_growth(gpu, True)
        if not gpus:
            _one_thread_per_process(tf)
    return keras


def _one_thread_per_process(tf: Any) -> None:
    """Run TensorFlow's CPU ops on one thread unless TF_NUM_*_THREADS say otherwise.

    A worker runs one pool child per core, so TensorFlow's own thread pools only fight the
    other children for the cores; on models this small they cost more than they give (the
    course MLP trains ~25% faster on 2 cores with one thread).
    """
    threading = tf.config.threading
    with contextlib.suppress(RuntimeError):  # the runtime has started: too late to change
        if "TF_NUM_INTRAOP_THREADS" not in os.environ:
            threading.set_intra_op_parallelism_threads(1)
        if "TF_NUM_INTEROP_THREADS" not in os.environ:
            threading.set_inter_op_parallelism_threads(1)


def device_info() -> tuple[str, str]:
    """Return (device, backend) of the active Keras backend, e.g. ("cuda:0 NVIDIA H200", "jax")."""
    backend = keras_module().backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            return f"cuda:0 {name}", backend
    elif backend == "jax":
        import jax

        dev = jax.devices()[0]
        if dev.platform == "gpu":
            return f"cuda:{dev.id} {dev.device_kind}", backend
        if dev.platform != "cpu":
            return f"{dev.platform}:{dev.id} {dev.device_kind}", backend
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            idx = torch.cuda.current_device()
            return f"cuda:{idx} {torch.cuda.get_device_name(idx)}", backend
    return "cpu", backend


def layer_names(n_hidden: int) -> list[str]:
    """Return the names of the Dense layers: hidden_1 ... hidden_n, output."""
    return [f"hidden_{i + 1}" for i in range(n_hidden)] + ["output"]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the backend, so that whatever draws from them repeats exactly."""
    keras = keras_module()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    # keras.utils.set_random_seed imports TensorFlow whenever it is installed, to seed tf.data:
    # ~450 MB and seconds that a JAX or PyTorch worker never uses. Batches are ordered by
    # epoch_batches, and build_model's initialisers carry their own seeds.
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def build_model(
    n_inputs: int,
    hidden: tuple[int, ...],
    activation: str,
    n_outputs: int,
    output: str,
    seed: int,
) -> Any:
    """Return an uncompiled Keras functional model of Dense layers, initialised from seed."""
    keras = keras_module()
    names = layer_names(len(hidden))
    inputs = keras.Input(shape=(n_inputs,), name="features")
    h = inputs
    for i, (units, name) in enumerate(zip([*hidden, n_outputs], names, strict=True)):
        # Keras's default initialiser, with a seed of its own per layer (see seed_everything).
        init = keras.initializers.GlorotUniform(seed=seed + i)
        act = output if name == names[-1] else activation
        h = keras.layers.Dense(units, activation=act, kernel_initializer=init, name=name)(h)
    return keras.Model(inputs, h, name="mlp")


def make_optimizer(name: str, learning_rate: float, momentum: float) -> Any:
    """Return a Keras optimizer by API name (momentum applies to sgd and rmsprop)."""
    opt = keras_module().optimizers
    if name == "sgd":
        return opt.SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "adam":
        return opt.Adam(learning_rate=learning_rate)
    if name == "rmsprop":
        return opt.RMSprop(learning_rate=learning_rate, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}")


def accuracy_metric(n_outputs: int) -> Any:
    """Return the accuracy metric matching the output layer (logged as "accuracy")."""
    metrics = keras_module().metrics
    if n_outputs == 1:
        return metrics.BinaryAccuracy(name="accuracy")
    return metrics.CategoricalAccuracy(name="accuracy")


def mae_metric() -> Any:
    """Return the mean-absolute-error metric of a regressor (logged as "mae")."""
    return keras_module().metrics.MeanAbsoluteError(name="mae")


def get_weights(model: Any) -> list[Any]:
    """Return the model's weights as numpy arrays, in Keras's kernel, bias, kernel... order."""
    ops = keras_module().ops
    # Keras 3.15's conversions call np.array(x, copy=False) on objects that predate NumPy 2's
    # copy keyword (TensorFlow variables, JAX via Variable.numpy): harmless, but one warning
    # per weight per epoch would bury everything else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [ops.convert_to_numpy(v.value) for v in model.weights]


def optimizer_state(model: Any) -> list[np.ndarray]:
    """Return the compiled model's optimizer variables (step count, moments...) as numpy."""
    ops = keras_module().ops
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # as in get_weights
        return [ops.convert_to_numpy(v.value) for v in model.optimizer.variables]


def set_optimizer_state(model: Any, values: list[np.ndarray]) -> None:
    """Restore what optimizer_state() returned into the compiled model's optimizer."""
    optimizer = model.optimizer
    if not optimizer.built:  # fit builds it on its first step; its variables must exist now
        optimizer.build(model.trainable_variables)
    variables = optimizer.variables
    shapes = [tuple(v.shape) for v in variables]
    if shapes != [np.shape(x) for x in values]:
        raise ValueError(f"optimizer state of shapes {shapes} expected")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def epoch_batches(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    order: Callable[[int], np.ndarray],
    epochs: range,
) -> tuple[dict[str, Any], list[Any]]:
    """Return (fit's data arguments, callbacks): epoch e's mini-batches follow the rows order(e).

    Keras's own shuffle draws from a generator whose state is not ours to save (tf.data's
    on TensorFlow, numpy's or torch's global one elsewhere), so a resumed fit would see other
    batches; an order that is a function of the epoch alone repeats exactly. `epochs` are
    fit's (0-based, initial_epoch first); pass fit `shuffle=False` and the callbacks.
    """
    steps = -(-len(x) // batch_size)
    if keras_module().backend.backend() == "tensorflow" and steps % model.steps_per_execution == 0:
        # One tf.data pipeline for all epochs (a generator costs a Python call per batch, a
        # fresh iterator per epoch more): fit must take exactly `steps` batches per epoch,
        # which it does when each backend call runs a divisor of them.
        return {"x": _tf_epochs(x, y, batch_size, order, epochs), "steps_per_epoch": steps}, []
    return _py_epochs(x, y, batch_size, order)


def _tf_epochs(
    x: np.ndarray, y: np.ndarray, batch_size: int, order: Callable[[int], np.ndarray], epochs: range
) -> Any:
    import tensorflow as tf

    xs, ys, n = tf.constant(x), tf.constant(y), len(x)

    def rows(epoch: Any) -> Any:  # one call into numpy per epoch
        found = tf.numpy_function(
            lambda e: np.asarray(order(int(e)), dtype=np.int64), [epoch], tf.int64, stateful=False
        )
        return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(found, [n])).batch(batch_size)

    return (
        tf.data.Dataset.range(epochs.start, epochs.stop)
        .flat_map(rows)
        .map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)))
        .prefetch(2)
    )


def _py_epochs(
    x: np.ndarray, y: np.ndarray, batch_size: int, order: Callable[[int], np.ndarray]
) -> tuple[dict[str, Any], list[Any]]:
    keras = keras_module()

    class Batches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()  # one worker, no threads: batches are made in order
            self.rows = np.arange(len(x))

        def __len__(self) -> int:
            return -(-len(x) // batch_size)

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            rows = self.rows[i * batch_size : (i + 1) * batch_size]
            return x[rows], y[rows]

    class Reorder(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        # Keras calls this before it reads the epoch's first batch.
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            data.rows = order(epoch)

    data = Batches()
    return {"x": data}, [Reorder()]


def predict(model: Any, x: Any, chunk: int = 65_536) -> Any:
    """Return the model's outputs for x as float64 numpy, computed on the backend's device."""
    ops = keras_module().ops
    parts = [
        ops.convert_to_numpy(model(x[i : i + chunk], training=False))
        for i in range(0, len(x), chunk)
    ]
    return np.concatenate(parts).astype(np.float64)
