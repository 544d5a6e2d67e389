"""What a sweep tries: every combination of a grid, or seeded draws from distributions.

An axis is a list of values (tried in turn by a grid, drawn uniformly by a random search) or
one distribution: {"log_uniform": [lo, hi]}, {"uniform": [lo, hi]}, {"int_uniform": [lo, hi]}
(both ends included) or {"choice": [values]}. Names may be dotted ("optimizer.learning_rate").

Draw order, so that the same seed gives the same runs: one numpy Generator seeded with the
sweep's seed; runs are drawn one after the other, and within a run the axes in the order the
request gives them, one draw each (`uniform` for uniform, `uniform` of the logarithms for
log_uniform, `integers(lo, hi, endpoint=True)` for int_uniform, `integers(n)` as an index
for a choice or a list).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from descent_server.services.errors import InvalidInput
from descent_server.settings import get_settings

DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform", "choice")
GRID, RANDOM = "grid", "random"


def check_axes(axes: dict[str, Any], *, strategy: str, loc: Sequence[str | int]) -> None:
    """Raise InvalidInput (at loc + axis name) unless every axis is valid for the strategy."""
    if not axes:
        raise InvalidInput.at([*loc], "give at least one hyperparameter to vary")
    errors = []
    for name, axis in axes.items():
        message = _axis_error(axis, strategy)
        if message is not None:
            errors.append({"loc": [*loc, name], "msg": message})
    if errors:
        raise InvalidInput(errors)


def _axis_error(axis: Any, strategy: str) -> str | None:
    """Say what is wrong with one axis, or None."""
    if isinstance(axis, list):
        return None if axis else "a non-empty list of values"
    if strategy == GRID:
        return "a grid axis is a non-empty list of values (distributions need strategy random)"
    if not isinstance(axis, dict) or len(axis) != 1 or next(iter(axis)) not in DISTRIBUTIONS:
        return f"a list of values or one of {{{', '.join(DISTRIBUTIONS)}: ...}}"
    (kind, spec), = axis.items()  # fmt: skip
    if kind == "choice":
        return None if isinstance(spec, list) and spec else "choice takes a non-empty list"
    if not (isinstance(spec, list) and len(spec) == 2 and all(_number(v) for v in spec)):
        return f"{kind} takes [lo, hi], two finite numbers"
    lo, hi = spec
    if not lo < hi:
        return f"{kind} needs lo < hi"
    if kind == "log_uniform" and lo <= 0:
        return "log_uniform needs 0 < lo"
    if kind == "int_uniform" and not all(isinstance(v, int) for v in spec):
        return "int_uniform takes two integers"
    return None


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 2**53
    )


def grid_points(axes: dict[str, list[Any]], *, loc: Sequence[str | int]) -> list[dict[str, Any]]:
    """Return every combination of the grid's values, the last axis varying fastest."""
    count = math.prod(len(values) for values in axes.values())
    limit = get_settings().max_sweep_runs
    if count > limit:
        raise InvalidInput.at([*loc], f"{count} combinations; at most {limit} runs")
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def random_points(axes: dict[str, Any], *, n_runs: int, seed: int) -> list[dict[str, Any]]:
    """Return `n_runs` points drawn from the axes (the draw order is in the module docstring)."""
    rng = np.random.default_rng(seed)
    return [{name: draw(rng, axis) for name, axis in axes.items()} for _ in range(n_runs)]


def draw(rng: np.random.Generator, axis: Any) -> Any:
    """Draw one value of one axis (a list or a distribution) as a plain JSON value."""
    if isinstance(axis, list):
        return axis[int(rng.integers(len(axis)))]
    (kind, spec), = axis.items()  # fmt: skip
    if kind == "choice":
        return spec[int(rng.integers(len(spec)))]
    lo, hi = spec
    if kind == "int_uniform":
        return int(rng.integers(lo, hi, endpoint=True))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def is_log(axis: Any) -> bool:
    """Return True for a log_uniform axis (plotted on a log scale)."""
    return isinstance(axis, dict) and "log_uniform" in axis


def is_numeric(axis: Any) -> bool:
    """Return True for an axis of numbers on a line (uniform, log or integer), not choices."""
    return isinstance(axis, dict) and next(iter(axis), None) in DISTRIBUTIONS[:3]
