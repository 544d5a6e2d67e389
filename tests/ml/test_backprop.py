"""Our numpy backpropagation against central finite differences and the backend's autodiff."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml.backprop import (
    HIDDEN_ACTIVATIONS,
    Network,
    activate,
    layer_norms,
    loss_and_gradients,
    loss_from_probabilities,
    loss_value,
)

# (output activation, output units, loss): every pairing the MLP engine can build.
HEADS = [
    ("softmax", 3, "categorical_crossentropy"),
    ("softmax", 3, "mse"),
    ("sigmoid", 1, "binary_crossentropy"),
    ("sigmoid", 1, "mse"),
    ("sigmoid", 3, "binary_crossentropy"),
    ("linear", 1, "mse"),  # the regressor's heads: values, not probabilities
    ("linear", 1, "mae"),
]


def make_case(activation: str, output: str, n_out: int, seed: int = 0):
    """Return a random 3-5-4-n_out network, inputs and targets, in float64.

    Targets are one-hot (or 0/1) for a classifier's head, numbers for a linear one.
    """
    rng = np.random.default_rng(seed)
    sizes = [3, 5, 4, n_out]
    kernels = [rng.normal(0, 0.8, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    x = rng.normal(0, 1, (17, 3))
    if output == "linear":
        y = rng.normal(0, 2, (17, n_out))
    elif n_out == 1:
        y = rng.integers(0, 2, (17, 1)).astype(np.float64)
    else:
        y = np.eye(n_out)[rng.integers(0, n_out, 17)]
    return Network(kernels, biases, activation, output), x, y


def numeric_gradients(net: Network, x: np.ndarray, y: np.ndarray, loss: str, h: float = 1e-6):
    """Return dLoss/dparam by central differences, one parameter at a time."""

    def value() -> float:
        zs, acts = net.forward(x)
        return loss_value(loss, net.output, y, zs[-1], acts[-1])

    grads = []
    for arrays in (net.kernels, net.biases):
        out = []
        for a in arrays:
            g = np.zeros_like(a)
            for idx in np.ndindex(a.shape):
                keep = a[idx]
                a[idx] = keep + h
                up = value()
                a[idx] = keep - h
                down = value()
                a[idx] = keep
                g[idx] = (up - down) / (2 * h)
            out.append(g)
        grads.append(out)
    return grads


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize(("output", "n_out", "loss"), HEADS)
def test_gradients_match_finite_differences(activation, output, n_out, loss):
    net, x, y = make_case(activation, output, n_out)
    _, grad_w, grad_b = loss_and_gradients(net, x, y, loss)
    num_w, num_b = numeric_gradients(net, x, y, loss)
    for ours, ref in zip(grad_w + grad_b, num_w + num_b, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-8)


def test_loss_from_logits_equals_loss_from_probabilities_away_from_saturation():
    for output, n_out, loss in HEADS:
        net, x, y = make_case("tanh", output, n_out)
        zs, acts = net.forward(x)
        exact = loss_value(loss, output, y, zs[-1], acts[-1])
        assert exact == pytest.approx(loss_from_probabilities(loss, y, acts[-1]), rel=1e-12)


def test_relu_has_zero_slope_at_its_kink():
    net = Network(
        [np.array([[1.0]]), np.array([[1.0]])], [np.zeros(1), np.zeros(1)], "relu", "sigmoid"
    )
    _, grad_w, _ = loss_and_gradients(net, np.array([[0.0]]), np.array([[1.0]]), "mse")
    assert grad_w[0][0, 0] == 0.0


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_activations_are_keras_s_own(activation):
    keras = pytest.importorskip("keras")
    z = np.concatenate([np.linspace(-30, 30, 601), [-1e-3, 0.0, 1e-3]])[None, :]
    theirs = keras.ops.convert_to_numpy(keras.activations.get(activation)(z.astype("float32")))
    # Keras computes these in float32 here: agreement to float32 rounding.
    np.testing.assert_allclose(activate(activation, z), theirs, rtol=2e-6, atol=1e-6)


def test_every_advertised_activation_is_one_the_engine_can_train():
    from typing import get_args

    from descent_server.services.kinds.mlp import MLPHyperparameters

    advertised = get_args(MLPHyperparameters.model_fields["activation"].annotation)
    assert set(advertised) == set(HIDDEN_ACTIVATIONS)


def test_layer_norms_take_kernel_and_bias_together():
    assert layer_norms([np.array([[3.0]])], [np.array([4.0])]) == [5.0]


def _backend() -> str:
    return pytest.importorskip("keras").backend.backend()


def _backend_loss(keras, loss: str):
    return {
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy(dtype="float64"),
        "binary_crossentropy": keras.losses.BinaryCrossentropy(dtype="float64"),
        "mse": keras.losses.MeanSquaredError(dtype="float64"),
        "mae": keras.losses.MeanAbsoluteError(dtype="float64"),
    }[loss]


def _keras_model(keras, net: Network):
    inputs = keras.Input(shape=(net.kernels[0].shape[0],), dtype="float64")
    h = inputs
    last = len(net.kernels) - 1
    for i, w in enumerate(net.kernels):
        act = net.output if i == last else net.activation
        h = keras.layers.Dense(w.shape[1], activation=act, dtype="float64")(h)
    model = keras.Model(inputs, h)
    model.set_weights([a for pair in zip(net.kernels, net.biases, strict=True) for a in pair])
    return model


def autodiff_gradients(net: Network, x: np.ndarray, y: np.ndarray, loss: str):
    """Return (loss, [dW1, db1, dW2, ...]) from the active Keras backend's own autodiff."""
    keras = pytest.importorskip("keras")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        with jax.enable_x64(True):  # JAX computes in float32 unless told otherwise
            return _jax_gradients(keras, net, x, y, loss)
    model = _keras_model(keras, net)
    loss_fn = _backend_loss(keras, loss)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x))
        grads = tape.gradient(value, model.trainable_weights)
        return float(value), [keras.ops.convert_to_numpy(g) for g in grads]
    pytest.skip(f"no autodiff reference written for backend {backend}")


def _jax_gradients(keras, net: Network, x: np.ndarray, y: np.ndarray, loss: str):
    import jax

    model = _keras_model(keras, net)
    loss_fn = _backend_loss(keras, loss)

    def f(trainable):
        out, _ = model.stateless_call(trainable, [], x)
        return loss_fn(y, out)

    values = [v.value for v in model.trainable_variables]
    value, grads = jax.value_and_grad(f)(values)
    return float(value), [keras.ops.convert_to_numpy(g) for g in grads]


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize(("output", "n_out", "loss"), HEADS)
def test_gradients_match_backend_autodiff(activation, output, n_out, loss):
    net, x, y = make_case(activation, output, n_out, seed=1)
    ours, grad_w, grad_b = loss_and_gradients(net, x, y, loss)
    ref_loss, ref = autodiff_gradients(net, x, y, loss)
    # Some Keras ops on JAX (mean, tanh) compute float64 inputs through float32 (~1e-6
    # relative); on TensorFlow the reference is float64 throughout.
    rtol, atol = (1e-5, 1e-7) if _backend() == "jax" else (1e-9, 1e-12)
    if activation == "gelu":
        # TensorFlow's exact gelu divides by sqrt(2) rounded to float32 (~4e-9 off in float64);
        # ours is the exact x·Φ(x). The layers train in float32, where the two agree.
        rtol, atol = max(rtol, 1e-6), max(atol, 1e-9)
    assert ours == pytest.approx(ref_loss, rel=rtol)
    interleaved = [g for pair in zip(grad_w, grad_b, strict=True) for g in pair]
    for mine, theirs in zip(interleaved, ref, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)
