"""The history store: a run's epochs, snapshots (boundary grids, fitted curves) and artifacts.

Writes come from the worker in batches, fenced by its attempt, idempotent on (run_id, epoch);
on PostgreSQL new rows go in with COPY (an upsert only for epochs already stored). Reads go
through the raw DB-API cursor: a 100,000-epoch history is the case to be fast for.

Each epoch row has `recorded_at`, the wall-clock time the worker got its numbers, stored as
float seconds since the Unix epoch (COPYed as float8, no parsing on the ingest path) and
served as an RFC 3339 UTC string that the database formats (in C: ~3x faster than Python).
"""

from __future__ import annotations

import operator
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from descent_server.db.models import Artifact, Run, Snapshot, utcnow
from descent_server.db.session import json_dumps
from descent_server.ml.types import EpochRecord
from descent_server.repository import downsampling
from descent_server.repository.epoch_rows import (
    EXTRA,
    METRICS,
    SELECT,
    fetch,
    finite,
    json_rows,
    mark,
    to_dict,
)
from descent_server.repository.leases import db_now, fenced_update

__all__ = [
    "EXTRA", "METRICS", "HistoryPage", "StoredArtifact", "append_epochs", "count_epochs",
    "decode_snapshot", "downsample", "downsample_json", "encode_snapshot", "finite",
    "get_artifact", "get_snapshot", "history_csv_rows", "iter_snapshots", "last_epoch",
    "metrics_of", "put_artifact", "read_history", "read_history_json", "snapshot_epochs",
    "truncate_history",
]  # fmt: skip

FIELDS = ("epoch", *METRICS, *EXTRA)
# run.metrics: the loss and the kind's own second metric (a regressor records mae, the rest not).
CLASSIFIER_METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")
REGRESSOR_METRICS = ("loss", "val_loss", "mae", "val_mae")
_CSV_FIXED = ("epoch", *METRICS, "recorded_at")
_COLUMNS = f"run_id, epoch, {', '.join(METRICS)}, extra, recorded_at"
_UPSERT = (
    f"INSERT INTO epoch ({_COLUMNS}) VALUES ({{marks}}) ON CONFLICT (run_id, epoch) DO UPDATE "
    f"SET {', '.join(f'{m} = excluded.{m}' for m in METRICS)}, extra = excluded.extra, "
    "recorded_at = excluded.recorded_at"
)
_COPY_TYPES = ["varchar", "int4", *["float8"] * len(METRICS), "varchar", "float8"]
_WIDTH = len(_COPY_TYPES)


@dataclass(frozen=True)
class HistoryPage:
    """Rows in epoch order, and the cursor for the next page (None when there is none)."""

    rows: list[dict[str, Any]]
    next_since_epoch: int | None


@dataclass(frozen=True)
class StoredArtifact:
    """A stored file of a run."""

    media_type: str
    content: bytes
    created_at: datetime
    epoch: int | None = None


def _row(run_id: str, record: EpochRecord, recorded_at: float) -> tuple[Any, ...]:
    extra = {"params": record.params, "grad_norms": record.grad_norms}
    extra["weight_norms"] = record.weight_norms
    return (
        run_id,
        int(record.epoch),
        finite(record.loss),
        finite(record.val_loss),
        finite(record.accuracy),
        finite(record.val_accuracy),
        finite(record.mae),
        finite(record.val_mae),
        # orjson writes NaN and infinities as null, so stored JSON is always valid JSON.
        json_dumps(extra),
        recorded_at,
    )


def metrics_of(record: EpochRecord) -> dict[str, float | None]:
    """Return run.metrics for the latest record: a regressor's mae, or the accuracy keys."""
    names = REGRESSOR_METRICS if record.mae is not None else CLASSIFIER_METRICS
    return {name: finite(getattr(record, name)) for name in names}


def append_epochs(
    session: Session,
    run_id: str,
    attempt: int,
    records: Sequence[EpochRecord],
    recorded_at: Sequence[float] | None = None,
    diagnostics: list[dict[str, Any]] | None = None,
) -> bool:
    """Store a batch of epochs (and their snapshots) if `attempt` holds the run; else False.

    `recorded_at` holds each record's wall-clock time (time.time()); without it every row
    gets the time of this call. Also moves run.progress_epoch, run.metrics, the heartbeat
    and run.version, in the caller's transaction, and sets run.diagnostics when given (the
    whole list: the lease holder is its only writer). Epochs already stored are overwritten
    (a restarted attempt wins), their time too.
    """
    now = db_now(session)  # the heartbeat: the database's clock, as every lease time is
    if not records:
        return fenced_update(session, run_id, attempt, heartbeat_at=now)
    times = [time.time()] * len(records) if recorded_at is None else recorded_at
    rows, last = _rows(run_id, records, times)
    # The fenced UPDATE is the first write: it locks the run row until commit, so the lease
    # cannot change hands while the epochs go in.
    found = {} if diagnostics is None else {"diagnostics": diagnostics}
    moved = fenced_update(
        session,
        run_id,
        attempt,
        progress_epoch=int(last.epoch),
        metrics=metrics_of(last),
        heartbeat_at=now,
        version=Run.version + 1,
        **found,
    )
    if not moved:
        return False
    stored = fetch(session, "SELECT max(epoch) FROM epoch WHERE run_id = ?", [run_id])[0][0]
    stored = -1 if stored is None else stored
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _write_postgres(conn, rows, stored)
    else:
        conn.exec_driver_sql(_UPSERT.format(marks=", ".join("?" * _WIDTH)), rows)
    downsampling.after_write(session, run_id, rows, stored)
    snapshots = [(r.epoch, r.snapshot) for r in records if r.snapshot is not None]
    if snapshots:
        _write_snapshots(session, run_id, snapshots)
    return True


def _rows(
    run_id: str, records: Sequence[EpochRecord], times: Sequence[float]
) -> tuple[list[tuple[Any, ...]], EpochRecord]:
    """Return a batch's rows, one per epoch, and the record of its highest epoch.

    An epoch given twice is stored as its last record, at the place of its first.
    """
    rows = [_row(run_id, r, at) for r, at in zip(records, times, strict=True)]
    epochs = [row[1] for row in rows]
    if all(map(operator.lt, epochs, islice(epochs, 1, None))):
        return rows, records[-1]  # the usual batch, counting up: nothing to merge
    return list({row[1]: row for row in rows}.values()), max(records, key=lambda r: r.epoch)


def _write_postgres(conn: Connection, rows: list[tuple[Any, ...]], stored: int) -> None:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        again = [row for row in rows if row[1] <= stored]
        if again:
            cursor.executemany(_UPSERT.format(marks=", ".join(["%s"] * _WIDTH)), again)
        fresh = [row for row in rows if row[1] > stored] if again else rows
        if fresh:
            # COPY is the fast path: about 3x an INSERT per row, even batched. Binary: a
            # quarter of the client's work of text and less of the server's (no float
            # parsing), the same values to the bit.
            with cursor.copy(f"COPY epoch ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_COPY_TYPES)  # no per-value type lookup
                for row in fresh:
                    copy.write_row(row)
    finally:
        cursor.close()


def _upsert(session: Session, model: Any, values: list[dict[str, Any]], keys: list[str]) -> None:
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model)
    updates = {c: stmt.excluded[c] for c in values[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), values)


def _write_snapshots(
    session: Session, run_id: str, snapshots: list[tuple[int, np.ndarray]]
) -> None:
    values = [
        {"run_id": run_id, "epoch": int(epoch), "grid": encode_snapshot(array)}
        for epoch, array in snapshots
    ]
    _upsert(session, Snapshot, values, ["run_id", "epoch"])


def encode_snapshot(array: np.ndarray) -> bytes:
    """Compress a snapshot's raw bytes: a uint8 class grid, or float32 little-endian values.

    Class regions compress ~50x; a regressor's curve (any float array) is stored as float32.
    """
    values = np.asarray(array)
    dtype = "<f4" if np.issubdtype(values.dtype, np.floating) else np.uint8
    return zlib.compress(np.ascontiguousarray(values, dtype=dtype).tobytes(), 1)


def decode_snapshot(data: bytes, regressor: bool) -> np.ndarray:
    """Return get_snapshot's bytes as a 1-D array: float32 fit values, else uint8 classes."""
    return np.frombuffer(data, dtype="<f4" if regressor else np.uint8)


def truncate_history(session: Session, run_id: str, attempt: int, after_epoch: int) -> bool:
    """Delete epochs and snapshots past `after_epoch` (a restarted attempt), fenced."""
    if not fenced_update(
        session, run_id, attempt, progress_epoch=after_epoch, version=Run.version + 1
    ):
        return False
    session.execute(delete(Snapshot).where(Snapshot.run_id == run_id, Snapshot.epoch > after_epoch))
    session.connection().exec_driver_sql(
        "DELETE FROM epoch WHERE run_id = " + mark(session) + " AND epoch > " + mark(session),
        (run_id, after_epoch),
    )
    downsampling.after_truncate(session, run_id, after_epoch)
    return True


# ---- reads ------------------------------------------------------------------------------


def read_history(
    session: Session, run_id: str, since_epoch: int | None = None, limit: int | None = None
) -> HistoryPage:
    """Return the epochs after `since_epoch` (exclusive), at most `limit`, in order."""
    body, cursor = read_history_json(session, run_id, since_epoch, limit)
    # One orjson parse of the spliced rows builds every dict in C: ~3x faster than per row.
    return HistoryPage(orjson.loads(body), cursor)


def read_history_json(
    session: Session, run_id: str, since_epoch: int | None = None, limit: int | None = None
) -> tuple[bytes, int | None]:
    """Return `read_history`'s rows as a JSON array (bytes) and the next cursor, fast.

    The stored extra JSON is spliced in as it is, never parsed: serve this directly when
    the rows only go out as JSON.
    """
    rows = _page_rows(session, run_id, since_epoch, limit)
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if more else rows
    return f"[{json_rows(rows)}]".encode(), rows[-1][0] if more else None


def _page_rows(
    session: Session, run_id: str, since_epoch: int | None, limit: int | None
) -> list[Any]:
    """Return up to limit + 1 rows after `since_epoch` (one more tells whether more exist).

    Epochs are stored contiguously, so a page is first asked for as the closed range
    (since, since + limit + 1]: an index range the planner cannot turn into a scan of every
    later row plus a sort (what the open-ended `epoch > since ... LIMIT` became on a run
    written a moment ago, making a full fetch quadratic in the run's length). A short answer
    (the last page, or a gap) is completed by the open-ended query, which is then cheap.
    """
    start = -1 if since_epoch is None else since_epoch
    sql = f"{SELECT} WHERE run_id = ? AND epoch > ?"
    if limit is None:
        return fetch(session, sql + " ORDER BY epoch", [run_id, start])
    bounded = fetch(
        session, sql + " AND epoch <= ? ORDER BY epoch", [run_id, start, start + limit + 1]
    )
    if len(bounded) == limit + 1:
        return bounded
    return fetch(session, sql + " ORDER BY epoch LIMIT ?", [run_id, start, limit + 1])


def last_epoch(session: Session, run_id: str) -> dict[str, Any] | None:
    """Return the last stored epoch row of a run, or None before any."""
    rows = fetch(session, SELECT + " WHERE run_id = ? ORDER BY epoch DESC LIMIT 1", [run_id])
    return to_dict(rows[0]) if rows else None


def count_epochs(session: Session, run_id: str) -> int:
    """Return how many epoch rows a run has."""
    return int(fetch(session, "SELECT count(*) FROM epoch WHERE run_id = ?", [run_id])[0][0])


def downsample(session: Session, run_id: str, max_points: int) -> list[dict[str, Any]]:
    """Return at most `max_points` rows that keep the loss curve's shape (see downsampling)."""
    return orjson.loads(downsample_json(session, run_id, max_points))  # type: ignore[no-any-return]


def downsample_json(
    session: Session, run_id: str, max_points: int, since_epoch: int | None = None
) -> bytes:
    """Return `downsample`'s rows after `since_epoch` as a JSON array (bytes), never parsed."""
    keep = downsampling.pick_epochs(session, run_id, max_points)
    if keep is None:
        return read_history_json(session, run_id, since_epoch)[0]
    if since_epoch is not None:
        keep = [epoch for epoch in keep if epoch > since_epoch]
    return f"[{json_rows(_rows_at(session, run_id, keep))}]".encode()


def _rows_at(session: Session, run_id: str, epochs: list[int]) -> list[Any]:
    """Return the SELECT rows of `epochs` (stored ones, ascending)."""
    if not epochs:
        return []
    if session.connection().dialect.name == "postgresql":
        # One primary-key probe per picked epoch, whatever the planner thinks of the run's
        # size: with the statistics of a run written a moment ago, `epoch IN (...)` became
        # a scan of every row of the run (250 ms for 1,000 of 1,000,000 epochs).
        sql = (
            f"SELECT r.* FROM unnest(CAST(? AS integer[])) AS k(e) CROSS JOIN LATERAL"
            f" ({SELECT} WHERE run_id = ? AND epoch = k.e LIMIT 1) AS r ORDER BY r.epoch"
        )
        # The array as its text literal: psycopg would inspect each of the 1,000 ints.
        return fetch(session, sql, ["{" + ",".join(map(str, epochs)) + "}", run_id])
    marks = ", ".join("?" * len(epochs))
    return fetch(session, f"{SELECT} WHERE run_id = ? AND epoch IN ({marks}) ORDER BY epoch",
                 [run_id, *epochs])  # fmt: skip


def history_csv_rows(session: Session, run_id: str, page: int = 10_000) -> Iterator[list[Any]]:
    """Yield the CSV header, then one list of cells per epoch (params flattened)."""
    since: int | None = None
    columns: list[tuple[str, str]] | None = None
    while True:
        batch = read_history(session, run_id, since_epoch=since, limit=page)
        for row in batch.rows:
            if columns is None:
                columns = [(group, key) for group in EXTRA for key in row[group]]
                yield [*_CSV_FIXED, *(_csv_name(g, k) for g, k in columns)]
            yield [row[f] for f in _CSV_FIXED] + [_cell(row[g].get(k)) for g, k in columns]
        if batch.next_since_epoch is None:
            break
        since = batch.next_since_epoch
    if columns is None:
        yield list(_CSV_FIXED)


def _csv_name(group: str, key: str) -> str:
    return key if group == "params" else f"{group}.{key}"


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return orjson.dumps(value).decode()


# ---- snapshots and artifacts ------------------------------------------------------------


def snapshot_epochs(session: Session, run_id: str) -> list[int]:
    """Return the epochs that have a snapshot (boundary grid or fitted curve), ascending."""
    rows = session.execute(
        select(Snapshot.epoch).where(Snapshot.run_id == run_id).order_by(Snapshot.epoch)
    )
    return [row[0] for row in rows]


def get_snapshot(session: Session, run_id: str, epoch: int) -> bytes | None:
    """Return a snapshot's raw array bytes (see decode_snapshot), or None.

    A classifier's: resolution² uint8 (x2 rows × x1 columns); a regressor's: resolution
    float32 little-endian values.
    """
    grid = session.execute(
        select(Snapshot.grid).where(Snapshot.run_id == run_id, Snapshot.epoch == epoch)
    ).scalar_one_or_none()
    return None if grid is None else zlib.decompress(grid)


def iter_snapshots(session: Session, run_id: str) -> Iterator[tuple[int, bytes]]:
    """Yield (epoch, raw snapshot bytes) for every snapshot of a run, in epoch order."""
    rows = session.execute(
        select(Snapshot.epoch, Snapshot.grid)
        .where(Snapshot.run_id == run_id)
        .order_by(Snapshot.epoch)
    )
    for epoch, grid in rows:
        yield epoch, zlib.decompress(grid)


def put_artifact(
    session: Session,
    run_id: str,
    name: str,
    content: bytes,
    media_type: str,
    *,
    attempt: int | None = None,
    epoch: int | None = None,
) -> bool:
    """Store (or replace) a run's file; with `attempt`, only while that attempt holds the run."""
    beat = db_now(session)
    if attempt is not None and not fenced_update(session, run_id, attempt, heartbeat_at=beat):
        return False
    values: dict[str, Any] = {"run_id": run_id, "name": name, "media_type": media_type}
    values.update(content=content, epoch=epoch)
    _upsert(session, Artifact, [{**values, "created_at": utcnow()}], ["run_id", "name"])
    return True


def get_artifact(session: Session, run_id: str, name: str) -> StoredArtifact | None:
    """Return a run's stored file, or None."""
    row = session.execute(
        select(Artifact.media_type, Artifact.content, Artifact.created_at, Artifact.epoch).where(
            Artifact.run_id == run_id, Artifact.name == name
        )
    ).first()
    return None if row is None else StoredArtifact(*row)
