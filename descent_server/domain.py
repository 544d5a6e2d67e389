"""The words every layer shares: a run's status and kind, defined once.

Plain `StrEnum`s, so a member compares equal to its string ("succeeded" == Status.SUCCEEDED),
is stored and served as that string, and JSON needs no conversion.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints


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


# Every string a client names something with is printable: no C0 control characters and no
# DEL (a NUL cannot be stored in PostgreSQL text; the others hide in logs, CSVs, terminals).
# A pattern, not a validator, so that OpenAPI shows the rule.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
CONTROL_CHAR_MSG = "control characters (U+0000-U+001F, U+007F) are not allowed"
# The database columns that hold names are String(200): a longer name could never be stored.
NAME_MAX = 200
# Integer columns are 32-bit on PostgreSQL and every integer is 64-bit on SQLite: bound each
# integer a client sends to what fits, so no query or insert overflows.
INT32_MAX = 2**31 - 1

# A name (of a run, dataset, sweep, column, feature or target): 1-200 printable characters.
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX, pattern=NO_CONTROL_CHARS)
]
