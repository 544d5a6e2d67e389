"""Dataset request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from descent_server.api.schemas.common import Name, UtcDatetime, name_keys
from descent_server.domain import Kind

_CELLS = {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}}


class DatasetCreate(BaseModel):
    """A dataset sent as JSON columns (every column the same length)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    # Any: the service checks each cell so that errors name the column and row exactly.
    columns: dict[Name, list[Any]] = Field(
        description="Column name → values: all numbers (finite) or all strings (class names).",
        json_schema_extra=lambda schema: name_keys(schema, _CELLS),
    )


class ColumnRead(BaseModel):
    """One column's metadata."""

    name: str
    dtype: Literal["float", "string"]
    min: float | None = None
    max: float | None = None
    n_unique: int


class DatasetRead(BaseModel):
    """A stored dataset (or a builtin one, id `builtin:NAME`)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    n_rows: int
    columns: list[ColumnRead]
    sha256: str
    created_at: UtcDatetime | None = None


class BuiltinDatasetRead(DatasetRead):
    """A builtin dataset of the course notebook, with what it is meant for."""

    description: str
    features: list[str]
    target: str
    kind: Kind


class DatasetPage(BaseModel):
    """One page of datasets, newest first."""

    items: list[DatasetRead]
    next_cursor: str | None = None


class BuiltinDatasetList(BaseModel):
    """Every builtin dataset."""

    items: list[BuiltinDatasetRead]
