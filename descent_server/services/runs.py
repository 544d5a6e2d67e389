"""Runs: submit (validated, idempotent, routed, enqueued after commit), read, list, edit,
clone, cancel, delete."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import FINAL_STATUSES, Status
from descent_server.repository import quotas as quotas_repo
from descent_server.repository import runs as repo
from descent_server.repository.pages import BadCursor
from descent_server.repository.run_order import DEFAULT_SORT, BadSort, RunOrder
from descent_server.repository.run_order import FIELDS as SORT_FIELDS
from descent_server.repository.runs import RunFilter

__all__ = ["DEFAULT_SORT", "SORT_FIELDS", "RunFilter"]  # what the list route takes, re-exported
from descent_server.services import cost, dotted, idempotency, kinds, quotas
from descent_server.services.datasets import dataset_name
from descent_server.services.errors import Conflict, InvalidInput, NotFound, RateLimited
from descent_server.services.kinds.base import RunSpec
from descent_server.services.training_data import TrainingData
from descent_server.settings import get_settings

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]


def request_hash(request: RunSpec) -> str:
    """Return a stable hash of a parsed run request (for Idempotency-Key replays)."""
    body = request.model_dump(mode="json")
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def submit(
    *,
    session: Session,
    owner: str,
    request: RunSpec,
    idempotency_key: str | None,
    enqueue: Enqueue,
) -> tuple[Run, bool]:
    """Validate and store a run, then enqueue it; return (run, created) — False on a replay."""
    digest = request_hash(request)

    def find(key: str) -> Run | None:
        return repo.by_idempotency_key(session, owner=owner, key=key)

    existing = idempotency.replay(find=find, key=idempotency_key, digest=digest)
    if existing is not None:
        return existing, False
    run = prepare(session=session, owner=owner, request=request)
    run.idempotency_key = idempotency_key
    run.request_hash = digest if idempotency_key else None
    check_capacity(session=session, owner=owner, n=1, stored_bytes=run.stored_bytes)
    repo.add(session, run)
    existing = idempotency.commit_or_replay(
        session=session, find=find, key=idempotency_key, digest=digest
    )
    if existing is not None:
        return existing, False
    dispatch(run, enqueue)
    return run, True


def prepare(
    *,
    session: Session,
    owner: str,
    request: RunSpec,
    sweep_id: str | None = None,
    data: TrainingData | None = None,
) -> Run:
    """Check a typed run request against its dataset and limits; return the unsaved Run."""
    adapter = kinds.get(request.kind)  # type: ignore[attr-defined]
    if data is None:
        data = kinds.request_data(session=session, owner=owner, request=request)
    prepared = adapter.prepare(request.hyperparameters, data)  # type: ignore[attr-defined]
    # Before any row exists: a refused run costs nothing.
    cost.check(prepared.estimate, adapter.size_field)
    epochs = int(prepared.hyperparameters["epochs"])
    queue = adapter.route(device=request.device, n_rows=len(data.X), epochs=epochs)
    return Run(
        id=str(uuid.uuid4()),
        owner=owner,
        name=request.name,
        kind=adapter.kind,
        status=Status.QUEUED,
        dataset_id=request.dataset_id,
        dataset_name=dataset_name(session=session, dataset_id=request.dataset_id, owner=owner),
        features=list(request.features),
        target=request.target,
        hyperparameters=prepared.hyperparameters,
        device_request=request.device,
        queue=queue,
        epochs=epochs,
        progress_epoch=-1,
        metrics={},
        analysis={**prepared.analysis, **prepared.estimate.to_analysis()},
        stored_bytes=prepared.estimate.stored_bytes,
        sweep_id=sweep_id,
        attempt=0,
        version=1,
    )


def dispatch(run: Run, enqueue: Enqueue) -> None:
    """Enqueue a committed run; if the broker fails the run stays queued for lease recovery."""
    try:
        enqueue(run.id, run.queue)
    except Exception:  # noqa: BLE001 - any broker failure; lease recovery re-enqueues queued runs
        log.warning("enqueue of run %s failed; lease recovery will retry", run.id, exc_info=True)


def get(*, session: Session, run_id: str, owner: str) -> Run:
    """Return the owner's run or raise NotFound."""
    run = repo.get(session, run_id=run_id, owner=owner)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


def list_page(
    *,
    session: Session,
    owner: str,
    limit: int,
    cursor: str | None,
    where: RunFilter,
    sort: str,
) -> tuple[list[Run], str | None]:
    """Return one page of the owner's runs, filtered and sorted, and the next cursor."""
    try:
        order = RunOrder.parse(sort)
    except BadSort as exc:
        raise InvalidInput.at(["query", "sort"], str(exc)) from None
    try:
        return repo.list_page(
            session, owner=owner, limit=limit, cursor=cursor, where=where, order=order
        )
    except BadCursor as exc:
        raise InvalidInput.at(["query", "cursor"], str(exc)) from None


def update(*, session: Session, run_id: str, owner: str, changes: Mapping[str, Any]) -> Run:
    """Set the name, tags or notes of the owner's run (any status); the version moves."""
    run = get(session=session, run_id=run_id, owner=owner)
    if changes:
        repo.update_metadata(session, run_id=run.id, values=dict(changes))
        session.commit()
        session.refresh(run)
    return run


def clone(
    *,
    session: Session,
    owner: str,
    run_id: str,
    name: str | None,
    overrides: Mapping[str, Any],
    dataset_id: str | None,
    enqueue: Enqueue,
) -> Run:
    """Submit a copy of the owner's run with some hyperparameters (dotted names) changed.

    The merged request goes through every check a submit does (typed validation, cost,
    capacity) and the new run records its parent.
    """
    parent = get(session=session, run_id=run_id, owner=owner)
    for key in overrides:
        if not all(key.split(".")):
            raise InvalidInput.at(["body", "hyperparameters", key], "an empty part in the name")
    raw = {
        "kind": parent.kind,
        "dataset_id": dataset_id or parent.dataset_id,
        "features": parent.features,
        "target": parent.target,
        "name": name or _clone_name(parent.name),
        "device": parent.device_request,
        "hyperparameters": dotted.with_values(parent.hyperparameters, overrides),
    }
    run = prepare(session=session, owner=owner, request=kinds.parse_request(raw, ["body"]))
    run.parent_run_id = parent.id
    check_capacity(session=session, owner=owner, n=1, stored_bytes=run.stored_bytes)
    repo.add(session, run)
    session.commit()
    dispatch(run, enqueue)
    return run


def _clone_name(name: str | None) -> str | None:
    """Name a clone after its parent, so that the two tell apart in a comparison."""
    return None if name is None else f"{name[:192]} (clone)"


def cancel(*, session: Session, run_id: str, owner: str) -> Run:
    """Cancel a queued run at once or flag a running one; Conflict if it is already final."""
    run = get(session=session, run_id=run_id, owner=owner)
    if run.status in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is already {run.status}")
    stop(session, run_id)
    session.commit()
    session.refresh(run)
    return run


def delete(*, session: Session, run_id: str, owner: str) -> None:
    """Delete the owner's run and everything stored for it (a live run is cancelled first)."""
    run = get(session=session, run_id=run_id, owner=owner)
    if run.status not in FINAL_STATUSES:
        stop(session, run_id)
    repo.delete(session, run_id=run_id)
    session.commit()


def stop(session: Session, run_id: str) -> None:
    """Cancel a queued run now or ask its worker to stop (no commit)."""
    if not repo.cancel_if_queued(session, run_id=run_id):
        repo.request_cancel(session, run_id=run_id)


def check_capacity(*, session: Session, owner: str, n: int, stored_bytes: int = 0) -> None:
    """Refuse `n` more runs past max_concurrent_runs (429) or the stored-bytes quota (422).

    `stored_bytes` is the new runs' estimated history. The owner stays locked until the
    caller commits (or rolls back), so concurrent submits cannot all pass one count.
    """
    quotas_repo.lock_owner(session, owner=owner)
    limit = get_settings().max_concurrent_runs
    active = repo.count_active(session, owner=owner)
    if active + n > limit:
        raise RateLimited(
            f"{active} runs are queued or running; the limit is {limit} per owner", retry_after=10
        )
    quotas.check_stored_bytes(session=session, owner=owner, size=stored_bytes)
