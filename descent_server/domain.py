"""The words every layer shares: a run's status and kind, defined once.

Plain `StrEnum`s, so a member compares equal to its string ("succeeded" == Status.SUCCEEDED),
is stored and served as that string, and JSON needs no conversion.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a run (or a sweep) is: the first two are live, every other one is final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DIVERGED = "diverged"  # the loss became non-finite or grew past a bound
    FAILED = "failed"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # stopped early by its sweep


LIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})
FINAL_STATUSES = frozenset(set(Status) - LIVE_STATUSES)


class Kind(StrEnum):
    """The model kinds this server trains (each has one adapter in `services/kinds/`)."""

    LINEAR_REGRESSION = "linear_regression"
    MLP_CLASSIFIER = "mlp_classifier"
    MLP_REGRESSOR = "mlp_regressor"
