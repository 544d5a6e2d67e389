"""The worker's per-epoch path: the history writer's batches, should_stop's flags, and the
garbage collector kept off the heap that existed before training."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from descent_server.ml.types import EpochRecord
from descent_server.services.training import (
    FREEZE_EPOCHS,
    HistoryWriter,
    _old_objects_frozen,
    _stopper,
)
from descent_server.settings import Settings


class FakeDatabase:
    """Stands for Database: records each batch written, answering as a fenced write would."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.batches: list[list[int]] = []
        self.times: list[list[float]] = []

    def call(self, fn: Any, run_id: str, attempt: int, records: list[EpochRecord],
             times: list[float], weights: Any, found: Any) -> bool:  # fmt: skip
        self.batches.append([r.epoch for r in records])
        self.times.append(times)
        return self.answer


def writer(db: FakeDatabase, rows: int) -> HistoryWriter:
    settings = Settings(history_flush_rows=rows, history_flush_s=3600.0)
    return HistoryWriter(db, "run", 1, settings)  # type: ignore[arg-type]


def feed(w: HistoryWriter, first: int, last: int) -> None:
    for epoch in range(first, last + 1):
        w.on_epoch(EpochRecord(epoch=epoch, loss=1.0 / (epoch + 1)))


def test_records_are_written_every_flush_rows_with_their_times() -> None:
    db = FakeDatabase()
    w = writer(db, rows=3)
    feed(w, 0, 7)
    assert db.batches == [[0, 1, 2], [3, 4, 5]] and w.epoch == 7
    w.flush(final=True)
    assert db.batches == [[0, 1, 2], [3, 4, 5], [6, 7]]
    times = [at for batch in db.times for at in batch]
    assert len(times) == 8 and times == sorted(times)


def test_a_buffer_older_than_flush_s_is_written_at_the_next_record() -> None:
    db = FakeDatabase()
    w = writer(db, rows=1000)
    feed(w, 0, 1)
    w.due = 0.0  # the flush interval has passed
    feed(w, 2, 2)
    assert db.batches == [[0, 1, 2]]


def test_a_lost_lease_stops_the_writes() -> None:
    db = FakeDatabase(answer=False)  # the fenced write finds another attempt holding the run
    w = writer(db, rows=2)
    feed(w, 0, 5)
    assert w.lost.is_set() and db.batches == [[0, 1]]


class Watch:
    """The lease watch's two flags."""

    def __init__(self) -> None:
        self.cancel, self.lost = threading.Event(), threading.Event()


class Pruner:
    """A sweep's pruning watch: rungs to check, or none."""

    def __init__(self, rungs: list[int], pruned: bool = False) -> None:
        self.rungs, self.pruned, self.checked = rungs, pruned, [] if rungs else None

    def check(self, epoch: int, flush: Any) -> bool:
        assert self.checked is not None
        self.checked.append(epoch)
        return epoch >= self.rungs[0]


@pytest.mark.parametrize("flag", ["cancel", "lost", "write_lost"])
def test_should_stop_on_each_flag(flag: str) -> None:
    watch, w = Watch(), writer(FakeDatabase(), rows=10)
    stop = _stopper(watch, w, Pruner([]))  # type: ignore[arg-type]
    assert not stop()
    {"cancel": watch.cancel, "lost": watch.lost, "write_lost": w.lost}[flag].set()
    assert stop()


def test_should_stop_asks_the_pruner_only_in_a_pruning_sweep() -> None:
    watch, w = Watch(), writer(FakeDatabase(), rows=10)
    assert _stopper(watch, w, Pruner([], pruned=True))()  # type: ignore[arg-type]  # stopped before
    pruner = Pruner([3])
    stop = _stopper(watch, w, pruner)  # type: ignore[arg-type]
    feed(w, 0, 2)
    assert not stop()
    feed(w, 3, 3)
    assert stop() and pruner.checked == [2, 3]


def test_the_heap_is_frozen_while_a_long_run_trains_and_thawed_after() -> None:
    assert gc.get_freeze_count() == 0
    with _old_objects_frozen(FREEZE_EPOCHS):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), _old_objects_frozen(FREEZE_EPOCHS):
        raise RuntimeError("training failed")
    assert gc.get_freeze_count() == 0


def test_a_short_run_leaves_the_collector_alone() -> None:
    # Freezing before every short run kept earlier runs' garbage from full collections.
    with _old_objects_frozen(FREEZE_EPOCHS - 1):
        assert gc.get_freeze_count() == 0
