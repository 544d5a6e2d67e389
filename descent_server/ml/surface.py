"""The course's grid search: the MSE of y ≈ a·x + b over a grid of (a, b), in closed form.

The notebook loops over every pair and recomputes the loss from the rows; here the data
is read once into an exact quadratic (`Quadratic`) and the whole grid is one broadcast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from descent_server.ml.checks import check_targets
from descent_server.ml.linear import finite_or_none
from descent_server.ml.quadratic import Quadratic
from descent_server.ml.types import InvalidData

MAX_AXIS_POINTS = 1000
# Default half-width of each axis, in units where the loss grows by the variance of y
# (the loss of the best constant prediction) along that axis alone.
_SPAN = 2.0


@dataclass(frozen=True)
class Surface:
    """Loss over a grid: loss[i, j] = MSE at (a[j], b[i])."""

    a: np.ndarray  # (na,)
    b: np.ndarray  # (nb,)
    loss: np.ndarray  # (nb, na): rows = b values, columns = a values
    optimum: dict[str, float]  # least-squares {"a", "b", "loss"}
    grid_optimum: dict[str, float]  # best grid pair {"a", "b", "loss"}

    def to_dict(self) -> dict[str, Any]:
        """Return the loss-surface JSON of docs/api.md (non-finite numbers as null)."""
        return {
            "a": self.a.tolist(),
            "b": self.b.tolist(),
            "loss": [[finite_or_none(v) for v in row] for row in self.loss.tolist()],
            "optimum": {k: finite_or_none(v) for k, v in self.optimum.items()},
            "grid_optimum": {k: finite_or_none(v) for k, v in self.grid_optimum.items()},
        }


def loss_surface(x: ArrayLike, y: ArrayLike, a_values: ArrayLike, b_values: ArrayLike) -> Surface:
    """Return the MSE of a·x + b for every (a, b) of the grid, with both optima."""
    quad = _quadratic(x, y)
    a = np.asarray(a_values, dtype=np.float64).ravel()
    b = np.asarray(b_values, dtype=np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError("a and b need at least one value each")
    loss = quad.loss_grid(a, b)
    # First minimum in row-major order, the pair the notebook's argmin over its list picks.
    i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
    w, bias, best = quad.optimum()
    return Surface(
        a=a,
        b=b,
        loss=loss,
        optimum={"a": float(w[0]), "b": bias, "loss": best},
        grid_optimum={"a": float(a[j]), "b": float(b[i]), "loss": float(loss[i, j])},
    )


def default_axes(
    x: ArrayLike,
    y: ArrayLike,
    n: int = 100,
    include: Iterable[tuple[float, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return n values each of a and b centred on the optimum, widened to cover `include`."""
    quad = _quadratic(x, y)
    w, b_opt, loss_opt = quad.optimum()
    a_opt = float(w[0])
    mean_sq = float(quad.cov[0, 0] + quad.mean[0] ** 2)
    # Loss of the best constant prediction = var(y): a scale natural to the data.
    level = max(loss_opt + float(quad.cov[0, 0]) * a_opt * a_opt, loss_opt, 0.0)
    y_scale = max(1.0, abs(a_opt * float(quad.mean[0]) + b_opt))  # |mean of y|, at least 1
    if math.sqrt(level) < 1e-9 * y_scale:
        level = (0.05 * y_scale) ** 2  # y is (nearly) constant: use a tenth of its size
    half_b = _SPAN * math.sqrt(level)
    half_a = half_b / math.sqrt(mean_sq) if mean_sq > 0 else half_b
    for pa, pb in include or ():
        if math.isfinite(pa) and math.isfinite(pb):
            half_a = max(half_a, 1.05 * abs(pa - a_opt))
            half_b = max(half_b, 1.05 * abs(pb - b_opt))
    a = np.linspace(a_opt - half_a, a_opt + half_a, n)
    b = np.linspace(b_opt - half_b, b_opt + half_b, n)
    # Data near float64's limits (or a start far out) has no grid of finite numbers.
    spans = np.array([a[-1] - a[0], b[-1] - b[0]])
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(spans).all()):
        raise InvalidData("the data's scale is too large for a loss-surface grid")
    return a, b


def surface_from_spec(
    x: ArrayLike,
    y: ArrayLike,
    spec: Mapping[str, Any] | None = None,
    include: Iterable[tuple[float, float]] | None = None,
) -> Surface:
    """Return the surface for the `loss_surface` hyperparameter, or the default grid."""
    if spec is None:
        a, b = default_axes(x, y, include=include)
    else:
        a, b = _axis(spec, "a"), _axis(spec, "b")
    return loss_surface(x, y, a, b)


def _axis(spec: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        lo, hi, n = spec[name]
        lo, hi = float(lo), float(hi)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"loss_surface.{name} must be [min, max, n]") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and math.isfinite(hi - lo)):
        raise ValueError(f"loss_surface.{name} needs finite min < max, a finite span apart")
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_AXIS_POINTS:
        raise ValueError(f"loss_surface.{name} needs an integer n in [2, {MAX_AXIS_POINTS}]")
    return np.linspace(lo, hi, n)


def _quadratic(x: ArrayLike, y: ArrayLike) -> Quadratic:
    features, target = check_targets(x, y)
    if features.shape[1] != 1:
        raise InvalidData("a loss surface needs exactly one feature")
    # The loss sums squares of the values: past this scale the sums overflow float64.
    limit = math.sqrt(float(np.finfo(np.float64).max) / (4 * len(target)))
    if max(float(np.abs(features).max()), float(np.abs(target).max())) > limit:
        raise InvalidData("the data's scale is too large for a loss surface")
    try:
        return Quadratic.from_data(features, target)
    except np.linalg.LinAlgError:
        raise InvalidData("the data's scale is too large for a loss surface") from None
