"""Sweep request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from descent_server.api.schemas.common import Name, UtcDatetime, name_keys
from descent_server.api.schemas.runs import RunCreate, RunRead
from descent_server.domain import Status


class SweepCreate(BaseModel):
    """A base run request and the values to try: one run per combination."""

    model_config = ConfigDict(extra="forbid")

    run: RunCreate
    grid: dict[Name, list[Any]] = Field(
        min_length=1,
        description='Hyperparameter → values, e.g. {"learning_rate": [0.001, 1e-12, 2e-10]}; '
        'dotted names reach nested ones ("optimizer.learning_rate").',
        json_schema_extra=lambda schema: name_keys(schema),
    )
    name: Name | None = None


class SweepRead(BaseModel):
    """A sweep: running until every run is final; the best run has the lowest final loss."""

    id: str
    name: str | None
    status: Literal[Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED]
    grid: dict[str, list[Any]]
    runs: list[RunRead]
    best_run_id: str | None
    created_at: UtcDatetime
