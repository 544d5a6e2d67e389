"""The service's words for a run's status and kind, mirrored here once (the SDK never imports
the server). Plain `StrEnum`s: `Status.SUCCEEDED == "succeeded"`, so the API's JSON strings
compare equal to them and a status or kind a newer server adds still passes through as a str.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    """The model kinds the service trains."""

    LINEAR_REGRESSION = "linear_regression"
    MLP_CLASSIFIER = "mlp_classifier"
    MLP_REGRESSOR = "mlp_regressor"


def is_final(run: object) -> bool:
    """Return True when `run` is a Run's JSON object whose status is final."""
    return isinstance(run, Mapping) and run.get("status") in FINAL_STATUSES
