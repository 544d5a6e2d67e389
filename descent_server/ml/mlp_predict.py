"""Class probabilities of a trained MLP over many rows: float32, batch by batch, bounded memory."""

from __future__ import annotations

import numpy as np

from descent_server.ml.backprop import activate
from descent_server.ml.mlp_model import MLPModel


def predict_proba_batched(model: MLPModel, x: np.ndarray, batch_rows: int) -> np.ndarray:
    """Return class probabilities (n, len(classes)), computed `batch_rows` rows at a time.

    The hidden layers run in float32 and only one layer of one batch exists at any moment, so
    memory is about batch_rows × the widest layer × 4 bytes whatever the number of rows
    (MLPModel.predict_proba keeps every layer of every row in float64). The output layer's
    activation runs in float64 on the logits, so each row's probabilities sum to 1.
    """
    kernels = [np.asarray(w, dtype=np.float32) for w in model.kernels]
    biases = [np.asarray(b, dtype=np.float32) for b in model.biases]
    if x.ndim != 2 or x.shape[1] != kernels[0].shape[0]:
        raise ValueError(f"expected inputs of shape (n, {kernels[0].shape[0]})")
    out = np.empty((len(x), len(model.classes)), dtype=np.float64)
    last = len(kernels) - 1
    for start in range(0, len(x), max(1, batch_rows)):
        a = model.normalizer.apply(x[start : start + batch_rows]).astype(np.float32)
        for w, b in zip(kernels[:last], biases[:last], strict=True):
            a = activate(model.activation, a @ w + b)
        logits = (a @ kernels[last] + biases[last]).astype(np.float64)
        out[start : start + len(a)] = _probabilities(activate(model.output, logits), model.output)
    return out


def _probabilities(out: np.ndarray, output: str) -> np.ndarray:
    # As MLPModel.predict_proba: one sigmoid unit is P(class 1); independent sigmoids are
    # rescaled to sum to 1; softmax is already a distribution.
    if out.shape[1] == 1:
        return np.hstack([1.0 - out, out])
    if output == "sigmoid":
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    return out
