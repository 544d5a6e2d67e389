"""Diagnoses read from the loss curves: diverging, oscillating, plateau, overfitting.

Each rule looks at the losses recorded so far (a `Curve`: the k-th record's value, epochs
ascending, with its running minima) and returns a finding for the latest epoch, or None.
Every rule costs O(1) per record: none rescans the curve.
"""

from __future__ import annotations

import numpy as np

from descent_server.ml.diagnostics import thresholds as t
from descent_server.ml.diagnostics.curve import Curve
from descent_server.ml.diagnostics.findings import Finding, fmt, make_finding


def diverging(epoch: int, loss: Curve, lr_max: float | None) -> Finding | None:
    """Flag a loss that keeps rising by a growing amount, or jumped far above its best."""
    if len(loss) < 2:
        return None
    best, now = loss.best_before, loss.last
    if best <= 0:
        return None
    if not now - best >= t.DIVERGING_GIVEN_BACK * max(loss.first - best, 0.0):
        return None  # not given back enough of the progress (a falling loss): the usual answer
    k = t.DIVERGING_EPOCHS
    tail = loss.tail(k + 1)
    rising = len(tail) == k + 1 and all(b > a for a, b in zip(tail, tail[1:], strict=False))
    jump = now >= t.DIVERGING_JUMP * best
    if not (jump or (rising and now >= t.DIVERGING_RISE * best)):
        return None
    hint = (
        f"learning_rate below {fmt(lr_max)} (= 2/λ_max)"
        if lr_max
        else "learning_rate 3-10× smaller (or run an LR range test)"
    )
    how = "jumped" if jump and not rising else f"rose in each of the last {k} epochs"
    return make_finding(
        "diverging", "error", epoch,
        f"The loss {how} and is now {fmt(now / best)}× its best ({fmt(now)} vs {fmt(best)}): "
        "the steps overshoot and the run is heading for a non-finite loss.",
        hint, {"loss": now, "best_loss": best, "factor": now / best,
               "factors": [b / a for a, b in zip(tail, tail[1:], strict=False) if a > 0]},
    )  # fmt: skip


def oscillating(epoch: int, loss: Curve) -> Finding | None:
    """Flag a loss that alternates up and down with large swings."""
    n = t.OSCILLATING_EPOCHS
    if len(loss) < n + 1:
        return None
    values = loss.tail(n + 1)
    if _turns(values) < t.OSCILLATING_TURNS:  # the usual answer, without numpy
        return None
    tail = np.asarray(values, dtype=np.float64)
    diffs = np.diff(tail)
    turns = int(np.sum(np.sign(diffs[1:]) * np.sign(diffs[:-1]) < 0))
    scale = float(np.mean(tail))
    mean_swing = float(np.mean(np.abs(diffs)))
    swing = mean_swing / scale if scale > 0 else 0.0
    small = mean_swing < t.OSCILLATING_SWING_FIRST * loss.first
    if turns < t.OSCILLATING_TURNS or swing < t.OSCILLATING_SWING or small:
        return None
    return make_finding(
        "oscillating", "warning", epoch,
        f"The loss went up and down {turns} times in the last {n} epochs, swinging by "
        f"{fmt(100 * swing)}% of its value: the steps jump across the valley.",
        "learning_rate 2-3× smaller, or a larger batch_size",
        {"turns": turns, "swing": swing, "losses": tail.tolist()},
    )  # fmt: skip


def plateau(epoch: int, loss: Curve, epochs: int, floor: float) -> Finding | None:
    """Flag no real progress for many epochs while the loss is far from done."""
    window = max(t.PLATEAU_MIN_EPOCHS, int(t.PLATEAU_SHARE * epochs))
    if len(loss) <= window:
        return None
    before, recent = loss.window_minima(window)
    gap = before - floor
    if gap <= 0:
        return None
    progress = (before - recent) / gap
    start_gap = loss.first - floor
    done = 1.0 - (loss.last - floor) / start_gap if start_gap > 0 else 1.0
    best = loss.best
    if progress >= t.PLATEAU_PROGRESS or done >= t.PLATEAU_DONE:
        return None
    return make_finding(
        "plateau", "warning", epoch,
        f"The loss improved by {fmt(100 * progress)}% in the last {window} epochs and has "
        f"covered {fmt(100 * done)}% of the way from its start to {fmt(floor)}: it is stuck.",
        "learning_rate larger (or run an LR range test), normalize the features, or check "
        "for dead units",
        {"window": window, "progress": progress, "done": done, "loss": loss.last,
         "best_loss": best, "floor": floor},
    )  # fmt: skip


def overfitting(epoch: int, loss: Curve, val_loss: Curve) -> Finding | None:
    """Flag a validation loss rising for several epochs while the training loss falls."""
    k = t.OVERFITTING_EPOCHS
    if len(val_loss) < k + 1 or len(loss) < k + 1:
        return None
    v, tr = np.asarray(val_loss.tail(k + 1)), np.asarray(loss.tail(k + 1))
    best_val = float(val_loss.best)
    rises = int(np.sum(np.diff(v) > 0))
    gap_now, gap_then = float(v[-1] - tr[-1]), float(v[0] - tr[0])
    if not (
        tr[-1] < tr[0]
        and rises >= k - 1
        and v[-1] >= t.OVERFITTING_RISE * best_val
        and v[-1] - best_val >= t.OVERFITTING_RISE_FIRST * val_loss.first
        and gap_now > gap_then
        and best_val > 0
    ):
        return None
    return make_finding(
        "overfitting", "warning", epoch,
        f"The validation loss rose in {rises} of the last {k} epochs to "
        f"{fmt(float(v[-1]) / best_val)}× its best while the training loss kept falling: "
        "the model is memorizing the training rows.",
        "stop at the best val_loss epoch, use fewer hidden units, or collect more rows",
        {"val_loss": float(v[-1]), "best_val_loss": best_val, "loss": float(tr[-1]),
         "gap": gap_now, "gap_before": gap_then},
    )  # fmt: skip


def _turns(values: list[float]) -> int:
    """Return how often the direction of `values` changes (numpy's sign products, exactly)."""
    diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
    return sum(
        1
        for d0, d1 in zip(diffs, diffs[1:], strict=False)
        if (d0 > 0 and d1 < 0) or (d0 < 0 and d1 > 0)
    )
