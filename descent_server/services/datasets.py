"""Datasets: upload (CSV or JSON columns), list, read back, delete, and builtins."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.db.models import Dataset
from descent_server.ml.datasets import BUILTINS, load_builtin
from descent_server.repository import datasets as repo
from descent_server.repository.pages import BadCursor
from descent_server.services import dataset_codec, idempotency, quotas
from descent_server.services.errors import Conflict, InvalidInput, NotFound, TooLarge
from descent_server.services.tabular import (
    Limits,
    escape_formula,
    parse_csv,
    parse_json_columns,
)
from descent_server.settings import get_settings

BUILTIN_PREFIX = "builtin:"
CSV_BLOCK_ROWS = 10_000  # rows formatted at a time by the data.csv export


def upload_limits() -> Limits:
    """Return the row/column/field limits of an upload, from settings."""
    settings = get_settings()
    return Limits(settings.max_rows, settings.max_columns, settings.max_field_length)


def create_from_csv(
    *,
    session: Session,
    owner: str,
    name: str | None,
    data: bytes,
    idempotency_key: str | None,
    dedupe: bool = True,
) -> tuple[Dataset, bool]:
    """Parse and store an uploaded CSV; return (dataset, created): False on a replay.

    With `dedupe`, contents identical to one of the owner's datasets return that dataset.
    """
    if len(data) > get_settings().max_upload_bytes:
        raise TooLarge(f"upload larger than {get_settings().max_upload_bytes} bytes")
    quotas.check_dataset_room(session=session, owner=owner)  # before the costly parse
    columns = parse_csv(data, limits=upload_limits())
    return _create(session, owner, name or "dataset", columns, idempotency_key, dedupe)


def create_from_json(
    *,
    session: Session,
    owner: str,
    name: str,
    columns: Mapping[str, Sequence[Any]],
    idempotency_key: str | None,
    dedupe: bool = True,
) -> tuple[Dataset, bool]:
    """Check and store JSON columns; return (dataset, created) like `create_from_csv`."""
    quotas.check_dataset_room(session=session, owner=owner)
    parsed = parse_json_columns(columns, limits=upload_limits())
    return _create(session, owner, name, parsed, idempotency_key, dedupe)


def describe_columns(columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Return the column metadata: name, dtype (float|string), min, max, n_unique."""
    described = []
    for name, values in columns.items():
        numeric = values.dtype.kind in "fiu"
        described.append(
            {
                "name": name,
                "dtype": "float" if numeric else "string",
                "min": float(values.min()) if numeric and values.size else None,
                "max": float(values.max()) if numeric and values.size else None,
                "n_unique": int(np.unique(values).size),
            }
        )
    return described


def get(*, session: Session, dataset_id: str, owner: str) -> Dataset:
    """Return the owner's dataset (or a builtin's Dataset view) or raise NotFound."""
    if dataset_id.startswith(BUILTIN_PREFIX):
        return builtin(dataset_id.removeprefix(BUILTIN_PREFIX))
    dataset = repo.get(session, dataset_id=dataset_id, owner=owner)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


def dataset_name(*, session: Session, dataset_id: str, owner: str) -> str | None:
    """Return the name shown beside a dataset id: a builtin's NAME, or the stored name."""
    if dataset_id.startswith(BUILTIN_PREFIX):
        return dataset_id.removeprefix(BUILTIN_PREFIX)
    return repo.name_of(session, dataset_id=dataset_id, owner=owner)


def list_page(
    *, session: Session, owner: str, limit: int, cursor: str | None
) -> tuple[list[Dataset], str | None]:
    """Return one page of the owner's datasets and the next cursor."""
    try:
        return repo.list_page(session, owner=owner, limit=limit, cursor=cursor)
    except BadCursor:
        raise InvalidInput.at(["query", "cursor"], "invalid cursor") from None


def load_columns(*, session: Session, dataset_id: str, owner: str) -> dict[str, np.ndarray]:
    """Return the columns of the owner's dataset or of a builtin (`builtin:NAME`)."""
    if dataset_id.startswith(BUILTIN_PREFIX):
        name = dataset_id.removeprefix(BUILTIN_PREFIX)
        if name not in BUILTINS:
            raise NotFound(f"dataset {dataset_id} not found")
        return load_builtin(name)
    dataset = repo.get(session, dataset_id=dataset_id, owner=owner, content=True)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset_codec.decode(dataset.content)


def csv_chunks(*, session: Session, dataset_id: str, owner: str) -> Iterator[bytes]:
    """Return the dataset as CSV bytes: the header row, then blocks of CSV_BLOCK_ROWS rows."""
    # Loaded now, so a missing dataset is a 404 before any response starts; formatted block
    # by block, so the text of only one block is in memory at a time.
    columns = load_columns(session=session, dataset_id=dataset_id, owner=owner)
    return _csv_blocks(columns)


def _csv_blocks(columns: dict[str, np.ndarray]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([escape_formula(name) for name in columns])
    yield out.getvalue().encode()
    n_rows = len(next(iter(columns.values()))) if columns else 0
    for start in range(0, n_rows, CSV_BLOCK_ROWS):
        out.seek(0)
        out.truncate()
        block = slice(start, start + CSV_BLOCK_ROWS)
        cells = [_csv_cells(values[block]) for values in columns.values()]
        writer.writerows(zip(*cells, strict=True))
        yield out.getvalue().encode()


def delete(*, session: Session, dataset_id: str, owner: str) -> None:
    """Delete the owner's dataset unless a run that is not final uses it (Conflict)."""
    if dataset_id.startswith(BUILTIN_PREFIX):
        raise Conflict("builtin datasets cannot be deleted")
    dataset = get(session=session, dataset_id=dataset_id, owner=owner)
    if repo.count_active_runs(session, dataset_id=dataset_id, owner=owner):
        raise Conflict(f"dataset {dataset_id} is used by runs that are not finished")
    repo.delete(session, dataset)
    session.commit()


def builtins() -> list[Dataset]:
    """Return every builtin dataset as a (transient, unsaved) Dataset."""
    return [builtin(name) for name in BUILTINS]


def builtin(name: str) -> Dataset:
    """Return builtin `name` as a transient Dataset with id `builtin:NAME` (NotFound if none)."""
    if name not in BUILTINS:
        raise NotFound(f"dataset {BUILTIN_PREFIX}{name} not found")
    columns = load_builtin(name)
    return Dataset(
        id=BUILTIN_PREFIX + name,
        owner="",
        name=name,
        n_rows=len(next(iter(columns.values()))),
        columns=describe_columns(columns),
        sha256=dataset_codec.fingerprint(columns),
        created_at=None,
    )


def _create(
    session: Session,
    owner: str,
    name: str,
    columns: dict[str, np.ndarray],
    idempotency_key: str | None,
    dedupe: bool,
) -> tuple[Dataset, bool]:
    """Store parsed columns once per Idempotency-Key; a replay with other content is a Conflict.

    With `dedupe`, the owner's dataset with the same contents (sha256) is returned instead.
    """
    sha256 = dataset_codec.fingerprint(columns)
    request_hash = hashlib.sha256(f"{name}\0{sha256}".encode()).hexdigest()

    def find(key: str) -> Dataset | None:
        return repo.by_idempotency_key(session, owner=owner, key=key)

    existing = idempotency.replay(find=find, key=idempotency_key, digest=request_hash)
    if existing is None and dedupe:
        existing = repo.by_sha256(session, owner=owner, sha256=sha256)
    if existing is not None:
        return existing, False
    dataset = Dataset(
        id=str(uuid.uuid4()),
        owner=owner,
        name=name,
        n_rows=len(next(iter(columns.values()))),
        columns=describe_columns(columns),
        sha256=sha256,
        content=dataset_codec.encode(columns),
        idempotency_key=idempotency_key,
        request_hash=request_hash if idempotency_key else None,
    )
    dataset.size_bytes = len(dataset.content)
    quotas.reserve_dataset_bytes(session=session, owner=owner, size=dataset.size_bytes)
    repo.add(session, dataset)
    existing = idempotency.commit_or_replay(
        session=session, find=find, key=idempotency_key, digest=request_hash
    )
    return (existing, False) if existing is not None else (dataset, True)


def _csv_cells(values: np.ndarray) -> list[str]:
    """Format a column for CSV: shortest round-trip floats, ints without '.0', formulas escaped."""
    if values.dtype.kind in "fiu":
        return [
            str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))
            for v in values.tolist()
        ]
    return [escape_formula(str(v)) for v in values.tolist()]
