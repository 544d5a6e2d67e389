"""Queries on datasets (always scoped to their owner)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from descent_server.db.models import Dataset, Run
from descent_server.domain import FINAL_STATUSES
from descent_server.repository.pages import keyset, page


def get(session: Session, *, dataset_id: str, owner: str, content: bool = False) -> Dataset | None:
    """Return the owner's dataset (optionally with its content loaded), or None."""
    query = select(Dataset).where(Dataset.id == dataset_id, Dataset.owner == owner)
    if content:
        query = query.options(undefer(Dataset.content))
    return session.scalars(query).first()


def name_of(session: Session, *, dataset_id: str, owner: str) -> str | None:
    """Return the name of the owner's dataset, or None."""
    query = select(Dataset.name).where(Dataset.id == dataset_id, Dataset.owner == owner)
    return session.scalars(query).first()


def by_sha256(session: Session, *, owner: str, sha256: str) -> Dataset | None:
    """Return the owner's oldest dataset with these contents (sha256 of the columns), or None."""
    query = (
        select(Dataset)
        .where(Dataset.owner == owner, Dataset.sha256 == sha256)
        .order_by(Dataset.created_at, Dataset.id)
    )
    return session.scalars(query).first()


def by_idempotency_key(session: Session, *, owner: str, key: str) -> Dataset | None:
    """Return the owner's dataset created with this Idempotency-Key, or None."""
    query = select(Dataset).where(Dataset.owner == owner, Dataset.idempotency_key == key)
    return session.scalars(query).first()


def list_page(
    session: Session, *, owner: str, limit: int, cursor: str | None
) -> tuple[list[Dataset], str | None]:
    """Return one page of the owner's datasets, newest first, and the next cursor."""
    query = keyset(select(Dataset).where(Dataset.owner == owner), Dataset, cursor, limit)
    return page(list(session.scalars(query)), limit)


def count_active_runs(session: Session, *, dataset_id: str, owner: str) -> int:
    """Count the owner's runs on this dataset that are not final yet."""
    query = select(func.count()).where(
        Run.owner == owner, Run.dataset_id == dataset_id, Run.status.not_in(FINAL_STATUSES)
    )
    return int(session.scalar(query) or 0)


def add(session: Session, dataset: Dataset) -> None:
    """Stage a new dataset (the service commits)."""
    session.add(dataset)


def delete(session: Session, dataset: Dataset) -> None:
    """Stage the deletion of a dataset (the service commits)."""
    session.delete(dataset)
