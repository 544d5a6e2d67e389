"""SQLAlchemy 2 models: the tables that migrations create (schema changes go through Alembic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from descent_server.domain import Status


def utcnow() -> datetime:
    """Return the current UTC time (timezone-aware)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
        bytes: LargeBinary,
    }


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings, never the key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Dataset(Base):
    __tablename__ = "dataset"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key"),
        Index("ix_dataset_owner_sha256", "owner", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    n_rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[Any]] = mapped_column(JSON)  # [{"name","dtype","min","max","n_unique"}]
    sha256: Mapped[str] = mapped_column(String(64))  # (owner, sha256) indexed: upload dedupe
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # npz, see codec
    # len(content): what the owner's dataset quota counts.
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sweep(Base):
    __tablename__ = "sweep"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the base run request
    # The axes searched (name -> list of values or a distribution), of either strategy.
    grid: Mapped[dict[str, Any]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String(16), default="grid", server_default="grid")
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)  # a random sweep's
    early_stop: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "run"
    __table_args__ = (UniqueConstraint("owner", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[str] = mapped_column(String(32))  # linear_regression | mlp_classifier
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED, index=True)
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)  # uuid or "builtin:NAME"
    # The dataset's name at submit (a builtin's NAME): shown beside the id without a join.
    dataset_name: Mapped[str | None] = mapped_column(String(200), default=None)
    features: Mapped[list[Any]] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(200))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)  # every value, defaults in
    device_request: Mapped[str] = mapped_column(String(8), default="auto")  # auto|cpu|gpu
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    epochs: Mapped[int] = mapped_column(Integer)
    progress_epoch: Mapped[int] = mapped_column(Integer, default=-1)  # last stored epoch
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    device: Mapped[str | None] = mapped_column(String(200), default=None)
    backend: Mapped[str | None] = mapped_column(String(32), default=None)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # the lease: fences every write
    # The history's estimated size at submit (services/cost.py): the owner's stored-bytes quota.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every change: ETag
    sweep_id: Mapped[str | None] = mapped_column(
        ForeignKey("sweep.id", ondelete="CASCADE"), default=None, index=True
    )
    # The values its sweep gave it ({dotted name: value}); null outside a sweep.
    swept: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Set by the owner (PATCH): each tag 1-50 printable characters, at most 20 of them.
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    # The run this one was cloned from (no foreign key: deleting the parent keeps the clone).
    parent_run_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    # finished_at - started_at, stored at finish so the list can sort by it; null while live.
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    # What the diagnostics engine found while it trained (ml/diagnostics Finding dicts), in
    # the order found; written with the epochs they came from, under the same lease.
    diagnostics: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class PruneDecision(Base):
    """Whether a sweep's early stopping stopped a run at one rung: made once, then read back."""

    __tablename__ = "prune_decision"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    rung: Mapped[int] = mapped_column(Integer, primary_key=True)  # the epoch decided at
    value: Mapped[float | None] = mapped_column(Float, default=None)  # its metric there
    stop: Mapped[bool] = mapped_column(Boolean)
    peers: Mapped[int] = mapped_column(Integer)  # how many values it was compared with
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Epoch(Base):
    """One row of a run's history; (run_id, epoch) is the primary key, so never duplicated."""

    __tablename__ = "epoch"

    # No foreign key on purpose: PostgreSQL checks one per inserted row, which tripled the
    # time to store a long history (P4). The migration's trigger deletes a run's epochs with
    # it, and the worker only writes epochs after locking its (existing) run row.
    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    loss: Mapped[float | None] = mapped_column(Float, default=None)
    val_loss: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    val_accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    # The MLP regressor's mean absolute errors (migration 0004); null for other kinds.
    mae: Mapped[float | None] = mapped_column(Float, default=None)
    val_mae: Mapped[float | None] = mapped_column(Float, default=None)
    # {"params": {...}, "grad_norms": {...}, "weight_norms": {...}} as JSON text
    extra: Mapped[str | None] = mapped_column(String, default=None)
    # When the worker got this epoch's numbers: seconds since the Unix epoch (UTC), a float
    # because it is the cheapest to COPY; null for epochs stored before migration 0003.
    recorded_at: Mapped[float | None] = mapped_column(Float, default=None)


class EpochBlock(Base):
    """Where the loss of one block of 32 epochs is lowest and highest: the downsampling index.

    Kept current by the history writer (repository/downsampling.py), deleted with the run by
    the same trigger as its epochs.
    """

    __tablename__ = "epoch_block"

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)  # epoch // 32
    min_epoch: Mapped[int] = mapped_column(Integer)
    min_loss: Mapped[float | None] = mapped_column(Float, default=None)
    max_epoch: Mapped[int] = mapped_column(Integer)
    max_loss: Mapped[float | None] = mapped_column(Float, default=None)


class Snapshot(Base):
    """A zlib-compressed snapshot of a run's model at one epoch, as raw array bytes.

    A classifier's decision-boundary grid (resolution² uint8 class indices, row-major, x2
    rows) or a regressor's fitted curve (resolution float32 values, little-endian).
    """

    __tablename__ = "snapshot"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid: Mapped[bytes] = mapped_column(LargeBinary)


class Artifact(Base):
    """A stored file of a run: the trained model, a training checkpoint."""

    __tablename__ = "artifact"

    run_id: Mapped[str] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # model | weights
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # The epoch the content is the state after (MLP "weights": predict and resume from it).
    epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateLimit(Base):
    """A shared token bucket per key ("submit:alice"), kept as the moment it is full again.

    The generic cell rate algorithm: one atomic upsert per request (repository/quotas.py)
    for every API process; rows whose bucket is full again are pruned.
    """

    __tablename__ = "rate_limit"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    full_at: Mapped[float] = mapped_column(Float)  # unix seconds


class LrRangeTest(Base):
    """A learning-rate range test of one run request, run by a worker (services/lr_range_tests)."""

    __tablename__ = "lr_range_test"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED)
    # The run request, its hyperparameters filled as a run's would be (resubmittable).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    min_lr: Mapped[float] = mapped_column(Float)
    max_lr: Mapped[float] = mapped_column(Float)
    steps: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # claims; fences the result
    # LrRangeResult.to_dict(): points, suggested_learning_rate, rule, stopped_early, lr_max.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
