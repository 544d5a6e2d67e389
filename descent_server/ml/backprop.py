"""Backpropagation for a stack of Dense layers, in plain numpy: the chapter's subject, readable.

A network is a list of kernels W[l] (n_in, n_out) and biases b[l] (n_out,). The forward pass
keeps every pre-activation z[l] = a[l-1] @ W[l] + b[l] and activation a[l] = f(z[l]); the
backward pass walks from the loss to the input, reusing those stored values (the chain rule
computed once per layer instead of once per weight), and yields dLoss/dW[l], dLoss/db[l].

Losses follow Keras's conventions: a per-sample loss (categorical cross-entropy sums over the
output units, binary cross-entropy, MSE and MAE average over them), then the mean over samples.
A regressor's output layer is linear (its outputs are the predicted values) with MSE or MAE.
Cross-entropy pairs only with its own output (categorical with softmax, binary with sigmoid;
Keras on TensorFlow silently reads a softmax's logits as sigmoid logits in binary
cross-entropy) and is computed from the logits, exactly; Keras does the same on TensorFlow and
clips probabilities to [1e-7, 1 - 1e-7] elsewhere, so values agree wherever no probability is
that close to 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIDDEN_ACTIVATIONS = (
    "relu", "sigmoid", "tanh", "linear", "elu", "selu", "gelu", "softplus", "swish",
)  # fmt: skip
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")
LOSSES = ("categorical_crossentropy", "binary_crossentropy", "mse", "mae")
_EPSILON = 1e-7  # Keras's backend epsilon, used where it clips probabilities
# SELU's constants, as Keras (TensorFlow's and JAX's selu) defines them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # Written with exp(-|z|) so that large |z| never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _elu(z: np.ndarray) -> np.ndarray:
    # alpha = 1, Keras's default; expm1 of min(z, 0) so that large z never overflows.
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr  # numpy has no erf; imported only where gelu is used

    return np.asarray(ndtr(z))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """Apply the activation `name` to pre-activations z (rows are samples)."""
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "linear":
        return z
    if name == "softmax":
        return _softmax(z)
    if name == "elu":
        return _elu(z)
    if name == "selu":
        return _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "gelu":  # Keras's default is the exact form, x·Φ(x), not the tanh approximation
        return z * _normal_cdf(z)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "swish":  # Keras's "swish" is silu: x·sigmoid(x)
        return z * _sigmoid(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_slope(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Return f'(z) elementwise for a hidden activation, given z and a = f(z)."""
    if name == "relu":
        return (z > 0).astype(z.dtype)  # 0 at the kink, as TensorFlow and JAX take it
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "linear":
        return np.ones_like(z)
    if name == "elu":  # 1 at the kink (the exp branch), as TensorFlow and JAX take it
        return np.where(z > 0, 1.0, a + 1.0)
    if name == "selu":
        return np.where(z > 0, _SELU_SCALE, a + _SELU_SCALE * _SELU_ALPHA)
    if name == "gelu":  # Φ(x) + x·φ(x)
        return _normal_cdf(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    if name == "softplus":
        return _sigmoid(z)
    if name == "swish":  # s + x·s·(1 - s)
        s = _sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    raise ValueError(f"unknown hidden activation {name!r}")


@dataclass(frozen=True)
class Network:
    """The weights and activations of a Dense stack (the last layer is the output layer)."""

    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    output: str

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Return (pre-activations z[1..L], activations a[0..L]) with a[0] = x."""
        zs: list[np.ndarray] = []
        acts = [x]
        last = len(self.kernels) - 1
        for i, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            z = acts[-1] @ w + b
            zs.append(z)
            acts.append(activate(self.output if i == last else self.activation, z))
        return zs, acts

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return the output layer's activations for inputs x."""
        return self.forward(x)[1][-1]

    def predict_class(self, x: np.ndarray) -> np.ndarray:
        """Return the predicted class index per row, from the logits (no softmax needed)."""
        a = x
        for w, b in zip(self.kernels[:-1], self.biases[:-1], strict=True):
            a = activate(self.activation, a @ w + b)
        z = a @ self.kernels[-1] + self.biases[-1]
        # One sigmoid unit: class 1 when p > 0.5, i.e. z > 0; otherwise the largest logit.
        return (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else np.argmax(z, axis=1)


def loss_value(loss: str, output: str, y: np.ndarray, z: np.ndarray, p: np.ndarray) -> float:
    """Return the mean loss of outputs p = output(z) against targets y (Keras's convention)."""
    if loss in ("mse", "mae"):
        return loss_from_probabilities(loss, y, p)
    if loss == "categorical_crossentropy" and output == "softmax":
        log_p = z - z.max(axis=1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        return float(-np.mean(np.sum(y * log_p, axis=1)))
    if loss == "binary_crossentropy" and output == "sigmoid":
        # -[y log s(z) + (1-y) log(1-s(z))] = max(z, 0) - z y + log(1 + exp(-|z|))
        return float(np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))))
    raise ValueError(f"loss {loss!r} is not supported with a {output!r} output")


def loss_from_probabilities(loss: str, y: np.ndarray, p: np.ndarray) -> float:
    """Return the mean loss of outputs p (probabilities clipped as Keras clips them)."""
    if loss == "mse":
        return float(np.mean((p - y) ** 2))
    if loss == "mae":
        return float(np.mean(np.abs(p - y)))
    q = np.clip(p, _EPSILON, 1.0 - _EPSILON)
    if loss == "categorical_crossentropy":
        return float(-np.mean(np.sum(y * np.log(q), axis=1)))
    if loss == "binary_crossentropy":
        return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log(1.0 - q)))
    raise ValueError(f"unknown loss {loss!r}")


def output_delta(loss: str, output: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return dLoss/dz for the output layer's pre-activations z."""
    n, k = p.shape
    # Cross-entropy on its own output activation: the textbook shortcut (p - y) / n,
    # divided by k too where Keras averages over the output units.
    if loss == "categorical_crossentropy" and output == "softmax":
        return (p - y) / n
    if loss == "binary_crossentropy" and output == "sigmoid":
        return (p - y) / (n * k)
    if loss == "mse":
        grad_p = 2.0 * (p - y) / (n * k)
    elif loss == "mae":  # sign(0) = 0: the subgradient TensorFlow and JAX take at a kink
        grad_p = np.sign(p - y) / (n * k)
    else:
        raise ValueError(f"loss {loss!r} is not supported with a {output!r} output")
    if output == "linear":
        return grad_p
    if output == "sigmoid":
        return grad_p * p * (1.0 - p)
    # softmax Jacobian-vector product: dz_i = p_i (g_i - sum_j g_j p_j)
    return p * (grad_p - np.sum(grad_p * p, axis=1, keepdims=True))


def loss_and_gradients(
    net: Network, x: np.ndarray, y: np.ndarray, loss: str
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Return (loss, dLoss/dW per layer, dLoss/db per layer) over the rows of x."""
    zs, acts = net.forward(x)
    value = loss_value(loss, net.output, y, zs[-1], acts[-1])
    delta = output_delta(loss, net.output, y, acts[-1])
    grad_w: list[np.ndarray] = [np.empty(0)] * len(net.kernels)
    grad_b: list[np.ndarray] = [np.empty(0)] * len(net.kernels)
    for layer in reversed(range(len(net.kernels))):
        grad_w[layer] = acts[layer].T @ delta
        grad_b[layer] = delta.sum(axis=0)
        if layer > 0:
            # Carry the error one layer back: through the weights, then the activation.
            back = delta @ net.kernels[layer].T
            delta = back * activation_slope(net.activation, zs[layer - 1], acts[layer])
    return value, grad_w, grad_b


def layer_norms(kernels: list[np.ndarray], biases: list[np.ndarray]) -> list[float]:
    """Return the Euclidean norm of each layer's kernel and bias taken together."""
    return [
        float(
            np.sqrt(np.sum(np.square(w, dtype=np.float64)) + np.sum(np.square(b, dtype=np.float64)))
        )
        for w, b in zip(kernels, biases, strict=True)
    ]


def dead_unit_shares(net: Network, x: np.ndarray) -> list[float]:
    """Return, per hidden layer, the share of ReLU units inactive (z ≤ 0) on every row of x."""
    if net.activation != "relu" or len(x) == 0:
        return []  # other activations have a slope below 0: no unit is ever wholly dead
    shares, a = [], x
    for w, b in zip(net.kernels[:-1], net.biases[:-1], strict=True):
        z = a @ w + b
        shares.append(float(np.mean(np.all(z <= 0, axis=0))))
        a = np.maximum(z, 0.0)
    return shares
