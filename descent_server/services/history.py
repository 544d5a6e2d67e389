"""Reading what training stored: history pages, snapshots, the loss surface, predict, the model."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.db.session import session_factory
from descent_server.repository import history as repo
from descent_server.repository.history import StoredArtifact, finite
from descent_server.services import kinds
from descent_server.services.errors import InvalidInput, NotFound, NotReady
from descent_server.services.plots import LRUCache, etag_matches
from descent_server.services.runs import get as get_run
from descent_server.settings import get_settings


def page_limit(*, limit: int | None) -> int:
    """Return how many epochs a page reads: `limit` or the default (InvalidInput over the cap)."""
    cap = get_settings().history_page_limit
    if limit is not None and limit > cap:
        raise InvalidInput.at(["query", "limit"], f"at most {cap}")
    return limit or cap


@dataclass(frozen=True)
class HistoryBody:
    """A JSON history response: its bytes (None when the client's ETag is current), its ETag."""

    content: bytes | None
    etag: str


# Part of every history ETag: a change to the rows' shape must change the tags served before.
_SHAPE = "history-json-1"


def history_json(
    *,
    session: Session,
    run_id: str,
    owner: str,
    since_epoch: int | None,
    limit: int,
    max_points: int | None = None,
    if_none_match: str | None = None,
) -> HistoryBody:
    """Return a page of epochs after `since_epoch`, or a shape-keeping downsample of all,
    as the JSON bytes of a HistoryPage (stored rows spliced in, never parsed).

    Its ETag names the run's version and the query. run.version moves with every stored
    epoch, truncation, status or edit, in the transaction that makes them, and the rows are
    read after the run: a tag stays current only while nothing behind it changed, so a 304
    never hides newer rows. A matching `if_none_match` answers without reading any epoch;
    a view (`max_points`) is cached under the same name.
    """
    run = get_run(session=session, run_id=run_id, owner=owner)
    if max_points is not None:
        # A downsample of fewer points when its rows are big: it has no next page.
        query: tuple[Any, ...] = ("view", max(2, rows_within_bytes(run, max_points)), since_epoch)
    else:
        query = ("page", rows_within_bytes(run, limit), since_epoch)
    key = repr((_SHAPE, run.id, run.version, run.progress_epoch, *query))
    etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
    if etag_matches(etag, if_none_match):
        return HistoryBody(None, etag)
    if max_points is None:
        return HistoryBody(_page(session, run_id, since_epoch, query[1]), etag)
    body = view_cache().get(key)
    if body is None:
        rows = repo.downsample_json(session, run_id, query[1], since_epoch)
        body = _splice(run_id, rows, None)
        view_cache().put(key, body)
    return HistoryBody(body, etag)


def _page(session: Session, run_id: str, since_epoch: int | None, limit: int) -> bytes:
    rows, cursor = repo.read_history_json(session, run_id, since_epoch=since_epoch, limit=limit)
    return _splice(run_id, rows, cursor)


def _splice(run_id: str, rows: bytes, cursor: int | None) -> bytes:
    # The HistoryPage's keys in its order; the rows (a JSON array) go in as they are.
    return b"".join(
        (b'{"run_id":', orjson.dumps(run_id), b',"epochs":', rows,
         b',"next_since_epoch":', orjson.dumps(cursor), b"}")
    )  # fmt: skip


class _ViewCache(LRUCache):
    """The views' LRU cache, bounded by bytes; a view over an eighth of them is not kept."""

    def put(self, key: str, value: bytes) -> None:
        """Keep `value` unless it is too big to share the cache (or the cache is off)."""
        if len(value) <= self.max_bytes // 8:
            super().put(key, value)


_views: _ViewCache | None = None


def view_cache() -> LRUCache:
    """Return the process-wide cache of views' bytes (history_view_cache_bytes; 0: off)."""
    global _views
    max_bytes = get_settings().history_view_cache_bytes
    if _views is None or _views.max_bytes != max_bytes:  # new settings: a new cache
        _views = _ViewCache(size=1 << 16, max_bytes=max_bytes)
    return _views


def history_csv(*, session: Session, run_id: str, owner: str) -> Iterator[str]:
    """Check access now, then return CSV text chunks (header first, params flattened)."""
    run = get_run(session=session, run_id=run_id, owner=owner)
    return _csv_chunks(run_id, rows_within_bytes(run, get_settings().history_page_limit))


def rows_within_bytes(run: Run, limit: int) -> int:
    """Return `limit`, lowered so that a page's rows stay within history_page_bytes.

    A weights: "full" row holds every parameter (~2 MB at 100,000): a page of 10,000 such
    rows would be built in memory as 20 GB. The client pages on with next_since_epoch.
    """
    analysis = run.analysis or {}
    n_params = analysis.get("n_params") or len(run.features) + 1
    row_bytes = kinds.get(run.kind).row_bytes(run.hyperparameters or {}, int(n_params))
    return max(1, min(limit, get_settings().history_page_bytes // row_bytes))


def _csv_chunks(run_id: str, page_rows: int) -> Iterator[str]:
    # Its own session: a streamed body outlives the request's session.
    with session_factory() as session:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        rows = repo.history_csv_rows(session, run_id, page=page_rows)
        for count, row in enumerate(rows, start=1):
            writer.writerow(["" if cell is None else cell for cell in row])
            if count % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def snapshot_info(*, session: Session, run_id: str, owner: str) -> dict[str, Any]:
    """Return the snapshot epochs with the grid's extent, resolution and class names."""
    run = _snapshot_run(session, run_id, owner)
    analysis = run.analysis or {}
    info = {
        "epochs": repo.snapshot_epochs(session, run_id),
        "extent": analysis["extent"],
        "resolution": analysis["resolution"],
        "classes": analysis.get("classes", []),
    }
    if "projection" in analysis:  # more than two features: the grid lies on the PCA plane
        info["projection"] = analysis["projection"]
    return info


def snapshot(*, session: Session, run_id: str, owner: str, epoch: int) -> dict[str, Any]:
    """Return one snapshot: a classifier's grid of class indices (x2 rows × x1 columns), or
    a regressor's predictions along x (one row)."""
    run = _snapshot_run(session, run_id, owner)
    raw = repo.get_snapshot(session, run.id, epoch)
    if raw is None:
        raise NotFound(f"run {run_id} has no snapshot at epoch {epoch}")
    grid = kinds.get(run.kind).snapshot(run, raw)
    if grid.dtype.kind in "iu":
        return {"epoch": epoch, "grid": grid.tolist()}
    return {"epoch": epoch, "grid": [[finite(float(v)) for v in grid.reshape(-1).tolist()]]}


def loss_surface(*, session: Session, run_id: str, owner: str) -> dict[str, Any]:
    """Return the loss over the run's (a, b) grid with both optima (one-feature regression)."""
    from descent_server.services.kinds.linear_regression import surface_of

    run = get_run(session=session, run_id=run_id, owner=owner)
    return surface_of(session, run).to_dict()  # type: ignore[no-any-return]


def predict(*, session: Session, run_id: str, owner: str, inputs: Sequence[Any]) -> dict[str, Any]:
    """Predict with the final (or latest) parameters; 409 before the run has any."""
    run = get_run(session=session, run_id=run_id, owner=owner)
    X = _inputs(inputs, len(run.features))
    return kinds.get(run.kind).predict(session, run, X)


def model(*, session: Session, run_id: str, owner: str) -> tuple[StoredArtifact, str]:
    """Return the trained model file and its download name (409 until it is written)."""
    run = get_run(session=session, run_id=run_id, owner=owner)
    artifact = repo.get_artifact(session, run_id, "model")
    if artifact is None:
        raise NotReady(f"run {run_id} has no model yet (status {run.status})")
    return artifact, f"descent-{run_id}{kinds.get(run.kind).model_suffix}"


def _snapshot_run(session: Session, run_id: str, owner: str) -> Run:
    """Return the run if it records snapshots (an MLP with the right features), else 404."""
    run = get_run(session=session, run_id=run_id, owner=owner)
    analysis = run.analysis or {}
    if "extent" not in analysis or "resolution" not in analysis:
        raise NotFound(
            "snapshots exist for mlp_classifier runs of two or more features and one-feature "
            "mlp_regressor runs"
        )
    return run


def _inputs(inputs: Sequence[Any], n_features: int) -> np.ndarray:
    """Shape inputs as (n, d): `[x, ...]` is one row per value when the run has one feature."""
    loc = ["body", "inputs"]
    try:
        X = np.asarray(inputs, dtype=np.float64)
    except (ValueError, TypeError):  # ragged rows (the schema refuses them first)
        raise InvalidInput.at(loc, f"each row needs {n_features} value(s)") from None
    if X.ndim == 1:
        if n_features != 1:
            raise InvalidInput.at(loc, f"give rows of {n_features} values: [[x1, x2, ...], ...]")
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise InvalidInput.at(loc, f"each row needs {n_features} value(s)")
    return X
