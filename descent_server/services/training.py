"""Train one run in a worker: take the lease, load the data, train, stream history, finish.

History is buffered and written every `history_flush_s` or `history_flush_rows` (not per
epoch, not all at the end). A lease thread heartbeats and reads the cancel flag every 0.2 s,
so `should_stop` is a free event check. Every database call is retried with backoff, so a
database outage shorter than the lease timeout loses no epoch.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from descent_server.db.models import Run
from descent_server.db.session import session_scope
from descent_server.domain import Status
from descent_server.ml.types import EpochRecord, InvalidData, ShouldStop, divergence_message
from descent_server.repository import history, leases
from descent_server.services import diagnosis, pruning
from descent_server.services.errors import DomainError
from descent_server.services.kinds.mlp import STATE
from descent_server.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
CANCEL_POLL_S = 0.2
WEIGHTS_EVERY_S = 2.0  # the MLP "weights" checkpoint is rewritten at most this often
DB_RETRY_S = 120.0  # longer than a database restart; shorter than giving the run up
NPZ = "application/x-npz"
FREEZE_EPOCHS = 10_000  # runs at least this long train with the older heap frozen
# The run's columns a worker reads before training (its data is loaded beside them).
LOADED = ("kind", "hyperparameters", "analysis", "epochs", "features", "target", "diagnostics")


class LeaseLost(Exception):
    """This attempt no longer holds the run (lease recovery or another worker took it)."""


def _transient(exc: BaseException) -> bool:
    """Tell errors worth retrying (connection lost, database locked or restarting)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return False


class Database:
    """Runs one repository call per transaction, retried with backoff on transient errors."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return fn(session, *args, **kwargs) run and committed in a fresh session."""
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            stop=stop_after_delay(DB_RETRY_S),
            reraise=True,
        ):
            with attempt, session_scope(self.session_factory) as session:
                return fn(session, *args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover


class LeaseWatch:
    """A thread that heartbeats the lease and reads the cancel flag while training runs."""

    def __init__(self, db: Database, run_id: str, attempt: int, settings: Settings) -> None:
        self.db, self.run_id, self.attempt = db, run_id, attempt
        self.interval_s = settings.heartbeat_interval_s
        self.cancel, self.lost, self._done = threading.Event(), threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> LeaseWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(5.0)

    def should_stop(self) -> bool:
        """Return True once the run is cancelled or this attempt lost its lease."""
        return self.cancel.is_set() or self.lost.is_set()

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._done.wait(CANCEL_POLL_S):
            try:
                if time.monotonic() - last_beat >= self.interval_s:
                    flag = self.db.call(leases.heartbeat, self.run_id, self.attempt)
                    last_beat = time.monotonic()
                else:
                    flag = self.db.call(leases.cancel_requested, self.run_id, self.attempt)
            except Exception:  # noqa: BLE001 - database away: training goes on, retry next tick
                log.warning("lease check of run %s failed", self.run_id, exc_info=True)
                continue
            if flag is None:
                self.lost.set()
            elif flag:
                self.cancel.set()


class HistoryWriter:
    """Buffers epoch records and writes them in batches, with the latest MLP weights and
    the diagnostics found on them."""

    def __init__(self, db: Database, run_id: str, attempt: int, settings: Settings) -> None:
        self.db, self.run_id, self.attempt = db, run_id, attempt
        self.flush_s, self.flush_rows = settings.history_flush_s, settings.history_flush_rows
        self.buffer: list[EpochRecord] = []
        self.times: list[float] = []  # wall-clock time each buffered record was handed over
        self.model: tuple[int, Any] | None = None  # (epoch, MLPModel) not yet written
        self.last_weights = time.monotonic()
        self.due = self.last_weights + self.flush_s  # when the buffer is written at the latest
        self.lost = threading.Event()
        self.epoch = -1  # the last epoch handed over
        self.diagnoser: diagnosis.Diagnoser | None = None  # set once the training job is known

    def on_epoch(self, record: EpochRecord) -> None:
        """Buffer one record (the engines' on_epoch), stamped with the wall-clock time."""
        self.buffer.append(record)
        # The time its numbers reached the service: when an engine hands over many epochs
        # at once (the regression's sufficient-statistics loop), they share about one time.
        self.times.append(time.time())
        if record.epoch > self.epoch:
            self.epoch = record.epoch
        if self.diagnoser is not None:  # its findings go out with this record's batch
            self.diagnoser.observe(record)
        if len(self.buffer) >= self.flush_rows or time.monotonic() >= self.due:
            self.flush()

    def on_model(self, epoch: int, model: Any) -> None:
        """Keep the weights after `epoch` (the MLP engine's on_model)."""
        self.model = (epoch, model)

    def flush(self, *, final: bool = False) -> None:
        """Write the buffered records (and, when due, the weights) in one transaction."""
        records, self.buffer = self.buffer, []
        times, self.times = self.times, []
        weights = None
        due = final or time.monotonic() - self.last_weights >= WEIGHTS_EVERY_S
        if self.model is not None and due:
            epoch, model = self.model
            state = None if model.state is None else model.state.to_bytes()
            weights = (epoch, model.to_bytes(), state)
            self.model, self.last_weights = None, time.monotonic()
        self.due = time.monotonic() + self.flush_s
        found = self.diagnoser.take() if self.diagnoser is not None and records else None
        if (records or weights) and not self.lost.is_set():
            ok = self.db.call(_write, self.run_id, self.attempt, records, times, weights, found)
            if not ok:
                self.lost.set()


def _write(
    session: Session,
    run_id: str,
    attempt: int,
    records: list[EpochRecord],
    times: list[float],
    weights: tuple[int, bytes, bytes | None] | None,
    diagnostics: list[dict[str, Any]] | None = None,
) -> bool:
    if not history.append_epochs(session, run_id, attempt, records, times, diagnostics):
        return False
    if weights is not None:  # weights and state in one transaction: never of two epochs
        epoch, content, state = weights
        history.put_artifact(session, run_id, "weights", content, NPZ, epoch=epoch)
        if state is not None:
            history.put_artifact(session, run_id, STATE, state, NPZ, epoch=epoch)
    return True


def run_training(*, session_factory: Callable[[], Session], run_id: str) -> str | None:
    """Train run `run_id` if its lease can be taken; return the final status, None if skipped."""
    settings = get_settings()
    db = Database(session_factory)
    attempt = db.call(leases.claim, run_id)
    if attempt is None:
        log.info("run %s not claimable (held, final or gone)", run_id)
        return None
    log.info("run %s attempt %d started", run_id, attempt)
    try:
        with LeaseWatch(db, run_id, attempt, settings) as watch:
            status, result, error = _train(db, run_id, attempt, settings, watch)
    except (InvalidData, DomainError) as exc:
        status, result = Status.FAILED, None
        error = {"code": "invalid_data", "message": _message(exc)}
    except LeaseLost:
        status, result, error = "", None, None
    except SoftTimeLimitExceeded:
        status, result, error = (
            Status.FAILED,
            None,
            time_limit_error(settings.task_soft_time_limit_s),
        )
    except Exception:
        # The traceback goes to the worker log, never into the run row.
        log.exception("run %s attempt %d failed", run_id, attempt)
        status, result = Status.FAILED, None
        error = {"code": "internal", "message": "training failed with an internal error"}
    if not status or not db.call(leases.finish, run_id, attempt, status, result, error):
        log.info("run %s attempt %d lost its lease; not finishing it", run_id, attempt)
        return None
    log.info("run %s attempt %d finished: %s", run_id, attempt, status)
    return status


def time_limit_error(limit_s: float) -> dict[str, str]:
    """Return run.error of a run stopped by the task's time limit."""
    return {"code": "time_limit", "message": f"the run passed its time limit of {limit_s:g} s"}


def fail_after_time_limit(
    *, session_factory: Callable[[], Session], run_id: str, limit_s: float
) -> bool:
    """Fail a run whose worker child was killed at the hard time limit (history kept)."""
    with session_scope(session_factory) as session:
        return leases.fail_running(session, run_id, time_limit_error(limit_s))


def _message(exc: Exception) -> str:
    if isinstance(exc, DomainError) and not isinstance(exc.detail, str):
        return "; ".join(str(item.get("msg", item)) for item in exc.detail)
    return str(exc) or type(exc).__name__


def _load(session: Session, run_id: str) -> tuple[dict[str, Any], Any]:
    from descent_server.services.kinds import load_training_data

    run = session.get(Run, run_id)
    if run is None:
        raise LeaseLost(run_id)
    fields = {name: getattr(run, name) for name in LOADED}
    return fields, load_training_data(session=session, run=run)


def _train(
    db: Database, run_id: str, attempt: int, settings: Settings, watch: LeaseWatch
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    from descent_server.services import kinds
    from descent_server.services.kinds.base import TrainingJob

    run, data = db.call(_load, run_id)
    adapter = kinds.get(run["kind"])
    if run["analysis"] is None:
        analysis = adapter.analyze(run["hyperparameters"], data)
        _fenced(db.call(leases.set_analysis, run_id, attempt, analysis))
    writer = HistoryWriter(db, run_id, attempt, settings)
    pruner = pruning.Watch(db.call, run_id, attempt)  # a sweep's early stopping, if any
    job = TrainingJob(
        run_id=run_id, attempt=attempt, features=run["features"], target=run["target"],
        hyperparameters=run["hyperparameters"], data=data, on_epoch=writer.on_epoch,
        on_model=writer.on_model, should_stop=_stopper(watch, writer, pruner),
        set_device=lambda device, backend: _fenced(
            db.call(leases.set_device, run_id, attempt, device, backend)),
        last_epoch=lambda: db.call(history.last_epoch, run_id),
        get_artifact=lambda name: db.call(history.get_artifact, run_id, name),
        truncate=lambda after: _fenced(db.call(history.truncate_history, run_id, attempt, after)),
    )  # fmt: skip
    writer.diagnoser = diagnosis.start(adapter, job, run["diagnostics"], run["epochs"])
    try:
        with _old_objects_frozen(run["epochs"]):
            trained = adapter.train(job)
    except SoftTimeLimitExceeded:
        writer.flush(final=True)  # the epochs trained before the limit stay servable
        raise
    writer.flush(final=True)
    if watch.lost.is_set() or writer.lost.is_set():
        raise LeaseLost(run_id)
    if trained.model is not None:
        _fenced(db.call(history.put_artifact, run_id, "model", *trained.model, attempt=attempt))
    error = None
    if pruner.pruned and trained.status == Status.CANCELLED:
        return Status.PRUNED, trained.result, None
    if trained.status == Status.DIVERGED:
        error = {"code": "diverged", "message": divergence_message(trained.result["epochs_run"])}
    return trained.status, trained.result, error


@contextmanager
def _old_objects_frozen(epochs: int) -> Iterator[None]:
    """For a long run, keep the cyclic garbage collector to the objects made while training.

    Each epoch leaves a few containers (its record, their dicts) in the history buffer
    until they are written, so full collections keep coming; each scans the whole heap
    (numpy, SQLAlchemy, Keras: 10^5 to 10^6 objects, ~0.2 s) though none of it is this
    training's garbage: 0.15-0.35 s of a 100,000-epoch regression. Only runs of FREEZE_EPOCHS
    or more: what was garbage already when the heap was frozen waits for the next full
    collection after the run, and freezing before every short run kept it from ever coming
    (P8 measured a pool child growing 4.4 MiB a run instead of 1.1).
    """
    if epochs < FREEZE_EPOCHS:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _stopper(watch: LeaseWatch, writer: HistoryWriter, pruner: pruning.Watch) -> ShouldStop:
    """Return the engines' should_stop: cancelled, lease lost, or pruned by the sweep."""
    cancelled, lost, write_lost = watch.cancel.is_set, watch.lost.is_set, writer.lost.is_set

    def should_stop() -> bool:  # called once per epoch: a few flag reads
        if cancelled() or lost() or write_lost():
            return True
        return pruner.check(writer.epoch, writer.flush) if pruner.rungs else pruner.pruned

    return should_stop


def _fenced(ok: bool) -> None:
    if not ok:
        raise LeaseLost()
