"""A trained MLP over many rows: float32, batch by batch, bounded memory.

The hidden layers run in float32 and only one layer of one batch exists at any moment, so
memory is about batch_rows × the widest layer × 4 bytes whatever the number of rows
(MLPModel's own predictions keep every layer of every row in float64).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from descent_server.ml.backprop import activate
from descent_server.ml.mlp_model import MLPModel


def predict_proba_batched(model: MLPModel, x: np.ndarray, batch_rows: int) -> np.ndarray:
    """Return class probabilities (n, len(classes)), computed `batch_rows` rows at a time.

    The output layer's activation runs in float64 on the logits, so each row's probabilities
    sum to 1.
    """
    if model.regressor:
        raise ValueError("a regressor has no class probabilities: use predict_values_batched")
    out = np.empty((len(x), len(model.classes)), dtype=np.float64)
    for start, logits in _output_logits(model, x, batch_rows):
        out[start : start + len(logits)] = _probabilities(
            activate(model.output, logits), model.output
        )
    return out


def predict_values_batched(model: MLPModel, x: np.ndarray, batch_rows: int) -> np.ndarray:
    """Return a regressor's predicted values (n,) float64, computed `batch_rows` rows at a time."""
    if not model.regressor:
        raise ValueError("predict_values_batched needs a regressor")
    out = np.empty(len(x), dtype=np.float64)
    for start, logits in _output_logits(model, x, batch_rows):
        out[start : start + len(logits)] = logits[:, 0]  # a linear output is its logits
    return out


def _output_logits(
    model: MLPModel, x: np.ndarray, batch_rows: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, the output layer's pre-activations in float64) batch by batch."""
    kernels = [np.asarray(w, dtype=np.float32) for w in model.kernels]
    biases = [np.asarray(b, dtype=np.float32) for b in model.biases]
    if x.ndim != 2 or x.shape[1] != kernels[0].shape[0]:
        raise ValueError(f"expected inputs of shape (n, {kernels[0].shape[0]})")
    last = len(kernels) - 1
    for start in range(0, len(x), max(1, batch_rows)):
        a = model.normalizer.apply(x[start : start + batch_rows]).astype(np.float32)
        for w, b in zip(kernels[:last], biases[:last], strict=True):
            a = activate(model.activation, a @ w + b)
        yield start, (a @ kernels[last] + biases[last]).astype(np.float64)


def _probabilities(out: np.ndarray, output: str) -> np.ndarray:
    # As MLPModel.predict_proba: one sigmoid unit is P(class 1); independent sigmoids are
    # rescaled to sum to 1; softmax is already a distribution.
    if out.shape[1] == 1:
        return np.hstack([1.0 - out, out])
    if output == "sigmoid":
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    return out
