"""Diagnoses read from the parameters: gradient norms per layer, dead units, a stuck bias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from descent_server.ml.diagnostics import thresholds as t
from descent_server.ml.diagnostics.findings import Finding, Severity, fmt, make_finding
from descent_server.ml.linear import unpack_params


def first_last_ratio(grad_norms: Mapping[str, float]) -> float | None:
    """Return the first layer's gradient norm over the last layer's (None: not measurable)."""
    norms = list(grad_norms.values())
    if len(norms) < 2 or not norms[-1] > 0 or not np.isfinite(norms[0]):
        return None
    return float(norms[0]) / float(norms[-1])


def gradients(epoch: int, ratios: Sequence[float | None],
              grad_norms: Mapping[str, float]) -> Finding | None:  # fmt: skip
    """Flag a first-to-last gradient-norm ratio far below or above 1 in consecutive records."""
    k = t.GRADIENT_EPOCHS
    tail = ratios[-k:]
    if len(tail) < k or any(r is None for r in tail):
        return None
    values = [float(r) for r in tail if r is not None]
    evidence = {"ratio": values[-1], "grad_norms": list(grad_norms.values())}
    names = list(grad_norms)
    if all(r < t.VANISHING_RATIO for r in values):
        return make_finding(
            "vanishing_gradients", "warning", epoch,
            f"The gradient reaching the first layer ('{names[0]}') is {fmt(values[-1])}× the "
            f"last layer's: the early layers barely learn ({len(names)} layers deep).",
            'activation: "relu" (not sigmoid/tanh), fewer hidden layers, or optimizer: "adam"',
            evidence,
        )  # fmt: skip
    if all(r > t.EXPLODING_RATIO for r in values):
        return make_finding(
            "exploding_gradients", "warning", epoch,
            f"The gradient reaching the first layer ('{names[0]}') is {fmt(values[-1])}× the "
            "last layer's: the early layers take huge steps.",
            "learning_rate smaller, normalize the features, or fewer hidden layers",
            evidence,
        )  # fmt: skip
    return None


def dead_units(epoch: int, shares: Mapping[str, float]) -> Finding | None:
    """Flag hidden ReLU layers whose units are inactive on every measured training row."""
    if epoch < 1 or not shares:
        return None
    layer = max(shares, key=shares.__getitem__)
    share = shares[layer]
    if share < t.DEAD_INFO:
        return None
    severity: Severity = "info"
    if share >= t.DEAD_ERROR:
        severity = "error"
    elif share >= t.DEAD_WARNING:
        severity = "warning"
    return make_finding(
        "dead_units", severity, epoch,
        f"{fmt(100 * share)}% of the units of '{layer}' output 0 on every training row: "
        "they get no gradient and never recover.",
        "learning_rate smaller, normalize the features, or activation: \"elu\" / \"selu\"",
        {"layer": layer, "share": share, "shares": list(shares.values())},
    )  # fmt: skip


def stuck_bias(
    epoch: int,
    first: Mapping[str, object],
    now: Mapping[str, object],
    magnitudes: Sequence[float],
) -> Finding | None:
    """Flag a regression whose bias has barely moved the predictions next to the weights."""
    if epoch < t.STUCK_EPOCHS or not first or not now:
        return None
    # How far each parameter moved the predictions: a weight by Δw·max|x|, the bias by Δb.
    if "a" in first and "a" in now and len(magnitudes) == 1:
        # One feature (the course regression, at every epoch): the same numbers in floats.
        (a0, b0), (a1, b1) = _a_b(first), _a_b(now)
        by_weights, by_bias = abs(a1 - a0) * magnitudes[0], abs(b1 - b0)
    else:
        w0, b0 = unpack_params(first)
        w1, b1 = unpack_params(now)
        if len(magnitudes) != len(w0):
            return None
        by_weights = float(np.sum(np.abs(w1 - w0) * np.asarray(magnitudes)))
        by_bias = abs(b1 - b0)
    if not by_weights > 0 or by_bias >= t.STUCK_SHARE * by_weights:
        return None
    return make_finding(
        "unscaled_features", "error", epoch,
        f"After {epoch} epochs the bias moved the predictions by {fmt(by_bias)}, the weights by "
        f"{fmt(by_weights)}: with unscaled features the bias is all but frozen.",
        'normalize: "standard" (or "minmax")',
        {"bias_change": by_bias, "weights_change": by_weights, "bias": b1},
    )  # fmt: skip


def _a_b(params: Mapping[str, Any]) -> tuple[float, float]:
    """Return a one-feature regression's (a, b) as unpack_params reads them."""
    return float(params["a"]), float(params.get("b", 0.0))
