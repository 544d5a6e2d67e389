"""The plane a classifier with more than two features is drawn on: its inputs' first two PCs.

The plane goes through the mean of the normalized inputs and is spanned by the first two
principal components (unit vectors, the directions of largest variance). A point (u, v) on
it is the input mean + u·pc1 + v·pc2; an input row lies at u = pc1·(x − mean), v likewise.
The normalizer's offset and scale travel with the plane, so raw rows can be placed on it:
a raw row r is first normalized, x = (r − offset) / scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from descent_server.ml.normalize import Normalizer


@dataclass(frozen=True)
class PCAPlane:
    """The first two principal components of normalized inputs, through their mean."""

    mean: np.ndarray  # (d,) in normalized units
    components: np.ndarray  # (2, d), orthonormal rows: pc1, pc2
    explained_variance_ratio: np.ndarray  # (2,): each component's share of the total variance
    offset: np.ndarray  # (d,) the normalizer's: normalized = (raw − offset) / scale
    scale: np.ndarray  # (d,)

    @classmethod
    def fit(cls, xn: np.ndarray, normalizer: Normalizer) -> PCAPlane:
        """Return the plane of the normalized rows xn (n, d), n >= 2, d >= 2."""
        xn = np.asarray(xn, dtype=np.float64)
        if xn.ndim != 2 or xn.shape[0] < 2 or xn.shape[1] < 2:
            raise ValueError("a PCA plane needs at least two rows of at least two features")
        mean = xn.mean(axis=0)
        centred = xn - mean
        # The d × d covariance's eigenvectors: O(n·d²) once, memory O(d²) whatever n is.
        values, vectors = np.linalg.eigh(centred.T @ centred / xn.shape[0])
        top = np.argsort(values)[::-1][:2]
        components = vectors[:, top].T
        # An eigenvector's sign is arbitrary: make each one's largest loading positive, so
        # the same data always gives the same picture.
        signs = np.sign(components[np.arange(2), np.argmax(np.abs(components), axis=1)])
        components = components * np.where(signs == 0, 1.0, signs)[:, None]
        total = float(np.clip(values, 0, None).sum())
        ratio = np.clip(values[top], 0, None) / total if total > 0 else np.zeros(2)
        return cls(mean, components, ratio, normalizer.offset.copy(), normalizer.scale.copy())

    def project(self, xn: np.ndarray) -> np.ndarray:
        """Return normalized rows (n, d) as plane coordinates (n, 2): (u, v) per row."""
        return (np.asarray(xn, dtype=np.float64) - self.mean) @ self.components.T

    def project_raw(self, x: np.ndarray) -> np.ndarray:
        """Return raw rows (n, d) in the data's units as plane coordinates (n, 2)."""
        return self.project((np.asarray(x, dtype=np.float64) - self.offset) / self.scale)

    def lift(self, uv: np.ndarray) -> np.ndarray:
        """Return plane coordinates (n, 2) as normalized inputs (n, d): mean + u·pc1 + v·pc2."""
        return self.mean + np.asarray(uv, dtype=np.float64) @ self.components

    def axis_labels(self) -> tuple[str, str]:
        """Return the plot's axis labels, e.g. ("PC1 (73% of variance)", "PC2 (23% ...)")."""
        return pca_axis_labels(self.explained_variance_ratio)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON of the run's analysis "projection"."""
        return {
            "kind": "pca",
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
            "offset": self.offset.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PCAPlane:
        """Return the plane that to_dict() described."""
        if data.get("kind") != "pca":
            raise ValueError(f"unknown projection kind {data.get('kind')!r}")
        mean = np.asarray(data["mean"], dtype=np.float64)
        components = np.asarray(data["components"], dtype=np.float64)
        if components.shape != (2, mean.size):
            raise ValueError("a PCA projection needs components of shape (2, len(mean))")
        return cls(
            mean=mean,
            components=components,
            explained_variance_ratio=np.asarray(data["explained_variance_ratio"], np.float64),
            offset=np.asarray(data.get("offset", np.zeros(mean.size)), dtype=np.float64),
            scale=np.asarray(data.get("scale", np.ones(mean.size)), dtype=np.float64),
        )


def pca_axis_labels(explained_variance_ratio: Any) -> tuple[str, str]:
    """Return "PCk (p% of variance)" for the two components."""
    first, second = (float(r) for r in explained_variance_ratio)
    return f"PC1 ({_percent(first)} of variance)", f"PC2 ({_percent(second)} of variance)"


def _percent(ratio: float) -> str:
    # Whole percents, but a share under 1% still reads as small rather than as nothing.
    share = 100 * ratio
    return f"{share:.0f}%" if share >= 1 or share == 0 else f"{share:.1g}%"
