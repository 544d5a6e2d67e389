"""Early stopping of a sweep's runs: ASHA and median rules, decided once per (run, rung).

Rungs are the epochs min_epochs · reduction_factor^k (k = 0, 1, …) below the run's last
epoch. When a run has stored a rung epoch, its metric there (lower is better; a missing or
non-finite value counts as worst) is compared with the values its sweep's runs stored at the
same epoch — stored rows only, so the run's own history is flushed first:

- asha (asynchronous successive halving): of the n values stored at the rung so far (this
  run's included), the run continues if fewer than reduction_factor have arrived, or if its
  value is among the best n // reduction_factor (ties continue); otherwise it stops.
- median: the run stops if at least 3 peers (other runs) stored the epoch and its value is
  worse than their median.

Neither ever stops the best value at a rung, nor a run whose own value is missing. The
decision is stored under (run, rung) by the attempt holding the run's lease; a retried
attempt reads it back instead of deciding again, and a run already stopped stops at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from descent_server.repository import leases
from descent_server.repository import pruning as repo

Method = Literal["asha", "median"]
MIN_MEDIAN_PEERS = 3


@dataclass(frozen=True)
class Rule:
    """A sweep's early stopping, as stored in sweep.early_stop."""

    method: Method = "asha"
    metric: Literal["val_loss", "loss"] = "val_loss"
    min_epochs: int = 5
    reduction_factor: int = 3

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Rule:
        """Build the rule from its stored JSON."""
        return cls(**stored)

    def rungs(self, epochs: int) -> list[int]:
        """Return the epochs a run of `epochs` epochs is judged at."""
        found, rung = [], self.min_epochs
        while rung < epochs:
            found.append(rung)
            rung *= self.reduction_factor
        return found


def _worst(value: float | None) -> float:
    return math.inf if value is None or not math.isfinite(value) else float(value)


def asha_stops(value: float | None, values: Sequence[float | None], reduction_factor: int) -> bool:
    """Return True if ASHA stops a run with `value` among all `values` stored at its rung."""
    if value is None:
        return False
    scores = sorted(_worst(v) for v in values)
    keep = len(scores) // reduction_factor
    if keep == 0:  # fewer than reduction_factor arrived: the first ones go on
        return False
    return _worst(value) > scores[keep - 1]


def median_stops(value: float | None, peers: Sequence[float | None]) -> bool:
    """Return True if the median rule stops a run with `value` against its peers' values."""
    if value is None or len(peers) < MIN_MEDIAN_PEERS:
        return False
    scores = [_worst(v) for v in peers]
    return _worst(value) > float(np.median(scores))  # so never the best: median >= min


def plan(session: Session, run_id: str) -> tuple[list[int], bool]:
    """Return the run's rungs (none outside an early-stopping sweep) and whether it stopped."""
    _, stored, epochs = repo.rule_of(session, run_id)
    if stored is None:
        return [], False
    return Rule.of(stored).rungs(epochs), repo.stopped(session, run_id=run_id)


def decide(session: Session, run_id: str, attempt: int, rung: int) -> bool:
    """Return True if the run stops at `rung`: the stored decision, else one made and stored."""
    stored = repo.decision(session, run_id=run_id, rung=rung)
    if stored is not None:
        return stored
    # Only the attempt holding the lease decides; the fenced update locks the run row (on
    # PostgreSQL) until commit, and the (run, rung) key keeps a second decision out anyway.
    if not leases.fenced_update(session, run_id, attempt, heartbeat_at=leases.db_now(session)):
        return False
    sweep_id, early_stop, _ = repo.rule_of(session, run_id)
    if sweep_id is None or early_stop is None:
        return False
    rule = Rule.of(early_stop)
    values = repo.values_at(session, sweep_id=sweep_id, epoch=rung, metric=rule.metric)
    if run_id not in values:  # its own epoch is not stored: nothing to compare yet
        return False
    value = values[run_id]
    peers = [v for other, v in values.items() if other != run_id]
    if rule.method == "asha":
        stop = asha_stops(value, list(values.values()), rule.reduction_factor)
    else:
        stop = median_stops(value, peers)
    repo.add_decision(session, run_id=run_id, rung=rung, value=value, stop=stop, peers=len(peers))
    session.flush()
    final = repo.decision(session, run_id=run_id, rung=rung)
    return stop if final is None else final


class Watch:
    """The worker's side: after each stored rung epoch, ask whether the sweep stops the run."""

    def __init__(self, call: Callable[..., Any], run_id: str, attempt: int) -> None:
        self.call, self.run_id, self.attempt = call, run_id, attempt
        self.rungs, self.pruned = call(plan, run_id)
        self.next = 0

    def check(self, epoch: int, flush: Callable[[], None]) -> bool:
        """Return True once the run is pruned; `epoch` is the last one recorded, `flush`
        stores the recorded epochs (a decision reads stored epochs only)."""
        while not self.pruned and self.next < len(self.rungs) and self.rungs[self.next] <= epoch:
            rung = self.rungs[self.next]
            self.next += 1
            flush()
            self.pruned = bool(self.call(decide, self.run_id, self.attempt, rung))
        return self.pruned
