"""What a diagnosis is: a code, a severity, the epoch, plain words, a hint and its numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, TypedDict

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "error": 2}
CODES = (
    "diverging", "oscillating", "plateau", "unscaled_features", "vanishing_gradients",
    "exploding_gradients", "dead_units", "overfitting", "unrepresentative_validation",
    "class_imbalance",
)  # fmt: skip


class Finding(TypedDict):
    """One diagnosis, ready for JSON: every evidence number is finite or null."""

    code: str
    severity: Severity
    epoch: int
    message: str
    hint: str
    evidence: dict[str, float | int | str | list[float] | None]


def _clean(value: object) -> float | int | str | list[float] | None:
    """Return a JSON-safe evidence value: NaN and infinities become None, floats 6 digits."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [v for v in (_clean(x) for x in value) if isinstance(v, float | int)]
    number = float(value)  # type: ignore[arg-type]
    return float(f"{number:.6g}") if math.isfinite(number) else None


def make_finding(
    code: str,
    severity: Severity,
    epoch: int,
    message: str,
    hint: str,
    evidence: Mapping[str, object],
) -> Finding:
    """Return a Finding with its evidence made JSON-safe."""
    if code not in CODES:
        raise ValueError(f"unknown diagnosis code {code!r}")
    return Finding(
        code=code,
        severity=severity,
        epoch=epoch,
        message=message,
        hint=hint,
        evidence={key: _clean(value) for key, value in evidence.items()},
    )


def fmt(value: float) -> str:
    """Return a number the way a message shows it (3 significant digits)."""
    return f"{value:.3g}"
