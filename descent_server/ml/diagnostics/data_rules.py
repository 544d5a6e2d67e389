"""Diagnoses known before training: the data's scales and classes, the learning rate's bound."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np

from descent_server.ml.diagnostics import thresholds as t
from descent_server.ml.diagnostics.findings import Finding, Severity, fmt, make_finding


class FeatureScale(TypedDict):
    """One feature's range and spread over the training rows."""

    min: float
    max: float
    mean: float
    std: float


def feature_scales(x: np.ndarray) -> list[FeatureScale]:
    """Return the min, max, mean and std of each column of x (n, d)."""
    x = np.asarray(x, dtype=np.float64)
    return [
        FeatureScale(
            min=float(c.min()), max=float(c.max()), mean=float(c.mean()), std=float(c.std())
        )  # fmt: skip
        for c in x.T
    ]


def class_counts(labels: np.ndarray, classes: Sequence[object]) -> dict[str, int]:
    """Return {class name: rows} for class indices `labels` (every class, zeros included)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    return {str(c): int(n) for c, n in zip(classes, counts, strict=False)}


def unscaled_features(
    scales: Sequence[FeatureScale], names: Sequence[str], normalize: str
) -> Finding | None:
    """Flag raw features whose magnitudes (and the bias's 1) differ by orders of magnitude."""
    if normalize != "none" or not scales:
        return None
    # max |x| is what multiplies a weight in every prediction; the bias is multiplied by 1.
    mags = [max(abs(s["min"]), abs(s["max"])) for s in scales]
    pool = [m for m in mags if m > 0] + [1.0]
    ratio = max(pool) / min(pool)
    if ratio < t.UNSCALED_RATIO:
        return None
    big = names[int(np.argmax(mags))]
    return make_finding(
        "unscaled_features", "warning", 0,
        f"Feature scales differ by a factor of {fmt(ratio)} (the bias counts as 1; "
        f"'{big}' reaches {fmt(max(mags))}): one learning rate cannot suit every parameter, "
        "so the small-scale ones (often the bias) barely move.",
        'normalize: "standard" (or "minmax")',
        {"ratio": ratio, "magnitudes": mags, "largest": big},
    )  # fmt: skip


def class_imbalance(train: Mapping[str, int]) -> Finding | None:
    """Flag a training split whose largest class outnumbers its smallest."""
    present = {c: n for c, n in train.items() if n > 0}
    if len(present) < 2:
        return None
    big, small = max(present, key=present.__getitem__), min(present, key=present.__getitem__)
    ratio = present[big] / present[small]
    if ratio < t.IMBALANCE_INFO:
        return None
    severity: Severity = "warning" if ratio >= t.IMBALANCE_WARNING else "info"
    return make_finding(
        "class_imbalance", severity, 0,
        f"Class '{big}' has {fmt(ratio)}× the training rows of class '{small}' "
        f"({present[big]} vs {present[small]}): accuracy rewards predicting the large class.",
        "collect or oversample rows of the small classes, and judge by per-class metrics",
        {"ratio": ratio, "largest": present[big], "smallest": present[small]},
    )  # fmt: skip


def unrepresentative_validation(train: Mapping[str, int], val: Mapping[str, int]) -> Finding | None:
    """Flag validation rows that miss classes the training rows have (or the reverse)."""
    if not val or sum(val.values()) == 0:
        return None
    missing = [c for c, n in train.items() if n > 0 and val.get(c, 0) == 0]
    unseen = [c for c, n in val.items() if n > 0 and train.get(c, 0) == 0]
    if not missing and not unseen:
        return None
    present = [c for c, n in val.items() if n > 0]
    words = f"misses class(es) {missing}" if missing else f"has class(es) {unseen} never trained"
    return make_finding(
        "unrepresentative_validation", "warning", 0,
        f"The validation rows {words}: they hold only {present}, so val_loss and val_accuracy "
        "do not measure the task (a 'tail' split of sorted rows takes one class).",
        'validation: "stratified" (or shuffle the rows before a tail split)',
        {"missing": len(missing), "unseen": len(unseen), "val_classes": len(present),
         "train_classes": sum(1 for n in train.values() if n > 0)},
    )  # fmt: skip


def learning_rate_bound(lr: float | None, lr_max: float | None) -> Finding | None:
    """Flag a full-batch rate at or above 2/λ_max (diverges) or above 1/λ_max (overshoots)."""
    if lr is None or lr_max is None or not lr_max > 0:
        return None
    evidence = {"learning_rate": lr, "lr_max": lr_max, "ratio": lr / lr_max}
    if lr >= lr_max:
        return make_finding(
            "diverging", "error", 0,
            f"The learning rate {fmt(lr)} is at or above 2/λ_max = {fmt(lr_max)}: every "
            "full-batch step overshoots the steepest direction further, so the loss will grow.",
            f"learning_rate below {fmt(lr_max)} (= 2/λ_max)", evidence,
        )  # fmt: skip
    if lr > lr_max / 2:
        return make_finding(
            "oscillating", "info", 0,
            f"The learning rate {fmt(lr)} is above 1/λ_max = {fmt(lr_max / 2)}: the parameters "
            "overshoot and alternate along the steepest direction (it still converges).",
            f"learning_rate near {fmt(lr_max / 2)} (= 1/λ_max) converges fastest there",
            evidence,
        )  # fmt: skip
    return None
