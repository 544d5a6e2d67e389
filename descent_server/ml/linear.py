"""Pieces of the linear model shared by the engines, the surface and the API layers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from descent_server.ml.checks import check_targets
from descent_server.ml.types import InvalidData


def predict_regression(params: Mapping[str, Any], X: ArrayLike) -> np.ndarray:
    """Return ŷ = X·w + b for params {"a","b"} or {"weights","bias"}; X is (n, d) or (n,)."""
    w, b = unpack_params(params)
    inputs = np.asarray(X, dtype=np.float64)
    if inputs.ndim == 1:
        inputs = inputs.reshape(-1, 1) if len(w) == 1 else inputs.reshape(1, -1)
    if inputs.ndim != 2 or inputs.shape[1] != len(w):
        raise InvalidData(f"inputs need {len(w)} feature(s) per row")
    return inputs.dot(w) + b


def least_squares(X: ArrayLike, y: ArrayLike) -> dict[str, Any]:
    """Return the closed-form optimum {"params", "loss"} by numpy's lstsq."""
    features, target = check_targets(X, y)
    mean = features.mean(axis=0)  # centring keeps the design matrix well conditioned
    design = np.column_stack([features - mean, np.ones(len(target))])
    sol = np.linalg.lstsq(design, target, rcond=None)[0]
    w = sol[:-1]
    b = float(sol[-1] - w.dot(mean))
    err = features.dot(w) + b - target
    return {"params": params_dict(w, b), "loss": float(err.dot(err) / len(target))}


def params_dict(w: np.ndarray, b: float) -> dict[str, Any]:
    """Return {"a", "b"} for one feature, {"weights", "bias"} for several."""
    if len(w) == 1:
        return {"a": float(w[0]), "b": float(b)}
    return {"weights": [float(v) for v in w], "bias": float(b)}


def unpack_params(params: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    """Return (weights, bias) from {"a","b"} or {"weights","bias"}."""
    if "a" in params:
        return np.array([float(params["a"])]), float(params.get("b", 0.0))
    if "weights" in params:
        return np.array(params["weights"], dtype=np.float64).ravel(), float(params.get("bias", 0.0))
    raise ValueError('params need {"a", "b"} or {"weights", "bias"}')


def finite_or_none(v: float) -> float | None:
    """Return v, or None when it is NaN or infinite (JSON has no such numbers)."""
    return v if math.isfinite(v) else None
