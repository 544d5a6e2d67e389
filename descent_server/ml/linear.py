"""Pieces of the linear model shared by the engines, the surface and the API layers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from descent_server.ml.types import InvalidData

Normalize = Literal["none", "minmax", "standard"]


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
    features, target = check_data(X, y)
    mean = features.mean(axis=0)  # centring keeps the design matrix well conditioned
    design = np.column_stack([features - mean, np.ones(len(target))])
    sol = np.linalg.lstsq(design, target, rcond=None)[0]
    w = sol[:-1]
    b = float(sol[-1] - w.dot(mean))
    err = features.dot(w) + b - target
    return {"params": params_dict(w, b), "loss": float(err.dot(err) / len(target))}


def check_data(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 (n, d) features and (n,) targets, or raise InvalidData."""
    features = np.asarray(X, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64)
    if features.ndim == 1:
        features = features.reshape(-1, 1)
    if (
        features.ndim != 2
        or features.shape[1] == 0
        or target.ndim != 1
        or len(target) != len(features)
    ):
        raise InvalidData(
            f"need X of shape (n, d) and y of shape (n,), got {features.shape}, {target.shape}"
        )
    if len(target) == 0:
        raise InvalidData("no rows to train on")
    # A sum is finite only if no NaN or infinity went into it: one cheap read, and the exact
    # test only when it fails (finite values can also overflow the sum).
    for values in (features, target):
        if not np.isfinite(values.sum()) and not np.isfinite(values).all():
            raise InvalidData("features and target must be finite numbers")
    return features, target


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


@dataclass(frozen=True)
class Normalizer:
    """Affine feature map x' = (x − shift) / scale and what it does to (w, b)."""

    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, mode: Normalize) -> Normalizer | None:
        """Return the map for `mode` fitted on X, or None for "none"."""
        if mode == "none":
            return None
        if mode == "minmax":
            shift = X.min(axis=0)
            scale = X.max(axis=0) - shift
        else:
            shift = X.mean(axis=0)
            scale = X.std(axis=0)
        # A constant feature cannot be scaled; leaving it unscaled keeps descent well defined.
        return cls(shift=shift, scale=np.where(scale > 0, scale, 1.0))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Return the normalised features."""
        return (X - self.shift) / self.scale

    def to_normalized(self, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
        """Return data-unit (w, b) in the normalised space (same predictions)."""
        return w * self.scale, b + float(w.dot(self.shift))

    def to_data(self, W: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return rows of normalised-space (W (k, d), B (k,)) in the data's units."""
        W = W / self.scale
        return W, B - W.dot(self.shift)
