"""Feature normalisation shared by every engine: x' = (x − offset) / scale, column by column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Normalize = Literal["none", "minmax", "standard"]
NORMALIZE_KINDS: tuple[Normalize, ...] = ("minmax", "standard", "none")


@dataclass(frozen=True)
class Normalizer:
    """Maps raw features to a model's inputs, and a linear model's (w, b) between the two."""

    kind: str
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str, x: np.ndarray) -> Normalizer:
        """Return the normalizer of `kind` fitted to the columns of x (n, d)."""
        if kind == "minmax":
            offset = x.min(axis=0)
            scale = x.max(axis=0) - offset
        elif kind == "standard":
            offset, scale = x.mean(axis=0), x.std(axis=0)
        elif kind == "none":
            offset, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        else:
            raise ValueError(f"normalize must be one of {list(NORMALIZE_KINDS)}, not {kind!r}")
        # A constant column carries no information and cannot be scaled: leave it unscaled
        # (descent stays well defined) instead of dividing by 0.
        scale = np.where(scale > 0, scale, 1.0)
        return cls(kind, np.asarray(offset, dtype=np.float64), scale.astype(np.float64))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return x in the model's input units."""
        return (x - self.offset) / self.scale

    def to_normalized(self, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
        """Return a linear model's data-unit (w, b) in the normalised space (same predictions)."""
        return w * self.scale, b + float(w.dot(self.offset))

    def to_data(self, W: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return rows of normalised-space linear models (W (k, d), B (k,)) in the data's units."""
        W = W / self.scale
        return W, B - W.dot(self.offset)
