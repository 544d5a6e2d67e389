"""The history store on both backends: batches, pages, cursors, upserts, fencing, downsampling."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.ml.types import EpochRecord
from descent_server.repository import downsampling, history, leases
from tests.helpers.runs import records


def test_append_then_read_keeps_every_field(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    version = session.get(Run, run_id).version  # type: ignore[union-attr]
    record = EpochRecord(
        epoch=0,
        loss=2.5,
        val_loss=3.0,
        accuracy=0.5,
        val_accuracy=0.25,
        params={"a": np.float64(-0.75), "b": -100.0, "w": np.array([1.0, 2.0])},
        grad_norms={"dense/kernel": 1.5},
        weight_norms={"dense/kernel": 2.5},
    )
    assert history.append_epochs(session, run_id, attempt, [record], [1_700_000_000.25])
    session.commit()
    page = history.read_history(session, run_id)
    assert page.next_since_epoch is None
    assert page.rows == [
        {
            "epoch": 0,
            "loss": 2.5,
            "val_loss": 3.0,
            "accuracy": 0.5,
            "val_accuracy": 0.25,
            "mae": None,
            "val_mae": None,
            "recorded_at": "2023-11-14T22:13:20.250000Z",
            "params": {"a": -0.75, "b": -100.0, "w": [1.0, 2.0]},
            "grad_norms": {"dense/kernel": 1.5},
            "weight_norms": {"dense/kernel": 2.5},
        }
    ]
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    assert run.progress_epoch == 0
    assert run.version == version + 1
    assert run.metrics == {"loss": 2.5, "val_loss": 3.0, "accuracy": 0.5, "val_accuracy": 0.25}


def test_a_regressor_s_mae_is_stored_read_and_becomes_its_metrics(
    running: tuple[Session, str, int],
) -> None:
    session, run_id, attempt = running
    batch = [EpochRecord(epoch=e, loss=1.0 / (e + 1), val_loss=2.0, mae=0.5 / (e + 1),
                         val_mae=0.75) for e in range(3)]  # fmt: skip
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    rows = history.read_history(session, run_id).rows
    assert [(r["mae"], r["val_mae"]) for r in rows] == [(0.5, 0.75), (0.25, 0.75), (0.5 / 3, 0.75)]
    assert rows[0]["accuracy"] is None and rows[0]["val_accuracy"] is None
    assert orjson.loads(history.read_history_json(session, run_id)[0]) == rows
    assert history.last_epoch(session, run_id)["mae"] == 0.5 / 3  # type: ignore[index]
    assert history.downsample(session, run_id, 2) == [rows[0], rows[2]]
    csv = list(history.history_csv_rows(session, run_id))
    assert csv[1][csv[0].index("val_mae")] == 0.75
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    assert run.metrics == {"loss": 1.0 / 3, "val_loss": 2.0, "mae": 0.5 / 3, "val_mae": 0.75}


def test_non_finite_numbers_are_stored_and_read_as_none(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    bad = EpochRecord(epoch=0, loss=math.inf, val_loss=math.nan, params={"a": math.nan})
    assert history.append_epochs(session, run_id, attempt, [bad])
    session.commit()
    row = history.read_history(session, run_id).rows[0]
    assert row["loss"] is None and row["val_loss"] is None
    assert row["params"] == {"a": None}
    session.expire_all()
    assert session.get(Run, run_id).metrics["loss"] is None  # type: ignore[union-attr]


def test_pages_with_since_epoch_cover_every_row_once(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    for first in range(0, 1000, 250):  # several batches, as the worker flushes them
        assert history.append_epochs(session, run_id, attempt, records(first, first + 249))
        session.commit()
    seen: list[int] = []
    since = None
    while True:
        page = history.read_history(session, run_id, since_epoch=since, limit=300)
        seen += [row["epoch"] for row in page.rows]
        if page.next_since_epoch is None:
            break
        since = page.next_since_epoch
    assert seen == list(range(1000))
    assert history.read_history(session, run_id, since_epoch=997).rows[0]["epoch"] == 998
    assert history.read_history(session, run_id, since_epoch=999).rows == []
    assert history.read_history(session, run_id, limit=1000).next_since_epoch is None
    assert history.count_epochs(session, run_id) == 1000
    assert history.last_epoch(session, run_id)["epoch"] == 999  # type: ignore[index]


def test_a_restarted_attempt_overwrites_stored_epochs(
    running: tuple[Session, str, int],
) -> None:
    session, run_id, first = running
    assert history.append_epochs(session, run_id, first, records(0, 49, scale=1.0))
    session.commit()
    # The first worker dies; its lease goes stale and a second attempt takes over.
    second = leases.claim(session, run_id, lease_timeout_s=-1)
    session.commit()
    assert second == 2
    # One batch mixing stored epochs (upsert) and new ones (COPY on PostgreSQL).
    assert history.append_epochs(session, run_id, second, records(30, 5029, scale=2.0))
    session.commit()
    rows = history.read_history(session, run_id).rows
    assert [r["epoch"] for r in rows] == list(range(5030))
    assert rows[29]["loss"] == pytest.approx(1.0 / 30)
    assert rows[30]["loss"] == pytest.approx(2.0 / 31)
    assert rows[-1]["loss"] == pytest.approx(2.0 / 5030)
    assert not history.append_epochs(session, run_id, first, records(0, 1))  # the zombie


def test_epochs_come_back_with_their_wall_clock_times(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    before = datetime.now(UTC)
    assert history.append_epochs(session, run_id, attempt, records(0, 9))  # stamped: now
    session.commit()
    start = time.time()
    times = [start + i / 1000 for i in range(10, 20)]  # as the worker stamps on_epoch
    assert history.append_epochs(session, run_id, attempt, records(10, 19), times)
    session.commit()
    after = datetime.now(UTC) + timedelta(seconds=1)
    rows = history.read_history(session, run_id).rows
    stamps = [datetime.fromisoformat(r["recorded_at"]) for r in rows]
    assert all(r["recorded_at"].endswith("Z") for r in rows)  # RFC 3339, UTC
    assert stamps == sorted(stamps) and stamps[10] < stamps[11] < stamps[19]
    assert before - timedelta(seconds=1) <= stamps[0] and stamps[-1] <= after
    exact = [datetime.fromtimestamp(t, UTC) for t in times]
    gaps = [abs(a - b) for a, b in zip(stamps[10:], exact, strict=True)]
    assert max(gaps) <= timedelta(microseconds=1)  # float seconds keep microseconds
    # The JSON served as it is stored and the downsample carry the same times.
    assert orjson.loads(history.read_history_json(session, run_id)[0]) == rows
    picked = history.downsample(session, run_id, 4)
    assert [r["recorded_at"] for r in picked] == [rows[r["epoch"]]["recorded_at"] for r in picked]
    # A restarted attempt's rewrite (the upsert path) takes its own time.
    second = leases.claim(session, run_id, lease_timeout_s=-1)
    session.commit()
    assert second == 2
    assert history.append_epochs(session, run_id, second, records(18, 20), [start + 60] * 3)
    session.commit()
    again = history.read_history(session, run_id, since_epoch=16).rows
    assert again[0]["recorded_at"] == rows[17]["recorded_at"]
    moved = {datetime.fromisoformat(r["recorded_at"]) for r in again[1:]}
    assert len(moved) == 1
    assert abs(moved.pop() - datetime.fromtimestamp(start + 60, UTC)) <= timedelta(microseconds=1)


def test_epochs_stored_without_a_time_read_back_null(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    assert history.append_epochs(session, run_id, attempt, records(0, 2))
    session.commit()
    # As rows stored before migration 0003 are.
    session.execute(text("UPDATE epoch SET recorded_at = NULL WHERE run_id = :id"), {"id": run_id})
    session.commit()
    assert [r["recorded_at"] for r in history.read_history(session, run_id).rows] == [None] * 3
    body = orjson.loads(history.read_history_json(session, run_id)[0])
    assert [r["recorded_at"] for r in body] == [None] * 3
    csv = list(history.history_csv_rows(session, run_id))
    assert [r[csv[0].index("recorded_at")] for r in csv[1:]] == [None] * 3


def test_a_fenced_out_attempt_writes_nothing(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    assert not history.append_epochs(session, run_id, attempt + 1, records(0, 4))
    session.rollback()
    assert history.count_epochs(session, run_id) == 0
    assert leases.finish(session, run_id, attempt, "cancelled")
    session.commit()
    assert not history.append_epochs(session, run_id, attempt, records(0, 4))
    session.rollback()
    assert history.count_epochs(session, run_id) == 0
    assert not history.put_artifact(session, run_id, "model", b"x", "text/plain", attempt=attempt)


def test_duplicate_epochs_in_one_batch_keep_the_last(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    batch = records(0, 3) + [EpochRecord(epoch=2, loss=42.0)]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    rows = history.read_history(session, run_id).rows
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert rows[2]["loss"] == 42.0


def test_downsample_keeps_ends_and_extremes(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    n = 20_000
    loss = np.exp(-np.arange(n) / 2000.0)
    loss[12_345] = 50.0  # a spike the picture must keep
    loss[17_000] = -1.0  # and a dip
    batch = [EpochRecord(epoch=e, loss=float(v), params={"a": e}) for e, v in enumerate(loss)]
    batch[9_000] = EpochRecord(epoch=9_000, loss=None)
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    rows = history.downsample(session, run_id, 1000)
    epochs = _check_sample(rows, points=1000, n=n, kept=(12_345, 17_000))
    assert all(r["params"] == {"a": r["epoch"]} for r in rows)
    loss[9_000] = np.nan
    assert epochs == downsampling.pick_min_max(loss, 1000).tolist()  # SQL and numpy agree
    # Fewer rows than points: every row comes back.
    assert len(history.downsample(session, run_id, n + 5)) == n


def test_downsample_with_ties_and_plateaus_matches_numpy(
    running: tuple[Session, str, int],
) -> None:
    """Buckets whose extremes repeat (or are all one value) pick the first epoch, like numpy."""
    session, run_id, attempt = running
    rng = np.random.default_rng(7)
    loss = np.round(rng.normal(size=3001), 1)  # few distinct values: ties everywhere
    loss[1000:1400] = 0.5  # whole buckets of one value
    loss[[3, 2000, 2001]] = np.nan
    batch = [
        EpochRecord(epoch=e, loss=None if np.isnan(v) else float(v)) for e, v in enumerate(loss)
    ]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    epochs = [r["epoch"] for r in history.downsample(session, run_id, 200)]
    assert epochs == downsampling.pick_min_max(loss, 200).tolist()


def test_pick_min_max_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=1003)
    values[[5, 600]] = np.nan
    picked = downsampling.pick_min_max(values, 102)
    buckets = 50
    expected = {0, 1002}
    inner = np.arange(1, 1002)
    for k in range(buckets):
        idx = inner[(inner - 1) * buckets // 1001 == k]
        seg = values[idx]
        expected.add(int(idx[np.nanargmin(seg)]))
        expected.add(int(idx[np.nanargmax(seg)]))
    assert set(picked.tolist()) == expected
    assert len(picked) <= 102


def test_snapshots_round_trip(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    grids = {e: np.full((100, 100), e % 3, dtype=np.uint8) for e in range(5)}
    grids[3][10:20, 30:40] = 2
    batch = [EpochRecord(epoch=e, loss=1.0, snapshot=g) for e, g in grids.items()]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    assert history.snapshot_epochs(session, run_id) == [0, 1, 2, 3, 4]
    got = history.get_snapshot(session, run_id, 3)
    assert got is not None
    assert np.array_equal(np.frombuffer(got, np.uint8).reshape(100, 100), grids[3])
    assert history.get_snapshot(session, run_id, 99) is None
    assert [e for e, _ in history.iter_snapshots(session, run_id)] == [0, 1, 2, 3, 4]
    assert np.array_equal(history.decode_snapshot(got, regressor=False).reshape(100, 100), grids[3])


def test_a_regressor_s_fit_snapshots_round_trip_as_float32(
    running: tuple[Session, str, int],
) -> None:
    session, run_id, attempt = running
    curves = {e: np.sin(np.linspace(-3, 3, 50) + e).astype(np.float32) for e in (0, 5)}
    batch = [EpochRecord(epoch=e, loss=1.0, mae=0.5, snapshot=c) for e, c in curves.items()]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    raw = history.get_snapshot(session, run_id, 5)
    assert raw is not None and len(raw) == 50 * 4
    assert raw == curves[5].astype("<f4").tobytes()  # little-endian float32, raw
    decoded = history.decode_snapshot(raw, regressor=True)
    assert decoded.dtype == np.float32 and np.array_equal(decoded, curves[5])
    # A float64 curve is stored as float32 too.
    assert history.append_epochs(
        session, run_id, attempt, [EpochRecord(epoch=6, loss=1.0, snapshot=np.ones(3))]
    )
    session.commit()
    again = history.get_snapshot(session, run_id, 6)
    assert again is not None and list(history.decode_snapshot(again, regressor=True)) == [1.0] * 3


def test_artifacts_are_replaced(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    assert history.put_artifact(session, run_id, "weights", b"one", "application/x-npz")
    assert history.put_artifact(session, run_id, "weights", b"two", "application/x-npz", attempt=1)
    session.commit()
    stored = history.get_artifact(session, run_id, "weights")
    assert stored is not None and stored.content == b"two"
    assert stored.media_type == "application/x-npz"
    assert history.get_artifact(session, run_id, "model") is None


def test_csv_rows_flatten_params(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    assert history.append_epochs(session, run_id, attempt, records(0, 2))
    session.commit()
    rows: list[list[Any]] = list(history.history_csv_rows(session, run_id, page=2))
    assert rows[0] == ["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "mae",
                       "val_mae", "recorded_at", "a", "b", "grad_norms.a"]  # fmt: skip
    assert [r[0] for r in rows[1:]] == [0, 1, 2]
    assert rows[2][8:] == [0.01, -1.0, 0.5]
    assert all(r[7].endswith("Z") for r in rows[1:])


def test_truncate_history_drops_the_tail(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    assert history.append_epochs(session, run_id, attempt, records(0, 19))
    session.commit()
    assert history.truncate_history(session, run_id, attempt, after_epoch=4)
    session.commit()
    assert history.count_epochs(session, run_id) == 5
    assert session.get(Run, run_id).progress_epoch == 4  # type: ignore[union-attr]


def test_json_rows_equal_the_dict_rows(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    batch = records(0, 99) + [EpochRecord(epoch=100, loss=math.nan, val_loss=1e-300)]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    body, cursor = history.read_history_json(session, run_id, since_epoch=10, limit=50)
    page = history.read_history(session, run_id, since_epoch=10, limit=50)
    assert orjson.loads(body) == page.rows
    assert cursor == page.next_since_epoch == 60
    body, cursor = history.read_history_json(session, run_id, since_epoch=60)
    assert orjson.loads(body) == history.read_history(session, run_id, since_epoch=60).rows
    assert cursor is None


def _blocks(session: Session, run_id: str) -> list[tuple[Any, ...]]:
    rows = session.execute(
        text(
            "SELECT block, min_epoch, min_loss, max_epoch, max_loss FROM epoch_block"
            " WHERE run_id = :r ORDER BY block"
        ),
        {"r": run_id},
    )
    return [tuple(row) for row in rows]


def _expected_blocks(session: Session, run_id: str) -> list[tuple[Any, ...]]:
    rows = history.read_history(session, run_id).rows
    epochs = np.array([r["epoch"] for r in rows])
    loss = np.array([np.nan if r["loss"] is None else r["loss"] for r in rows])
    return downsampling.summarize(epochs, loss)


def test_block_summaries_follow_appends_overwrites_and_truncation(
    running: tuple[Session, str, int],
) -> None:
    session, run_id, attempt = running
    for first in range(0, 3000, 777):  # batches that start and end mid-block
        batch = records(first, min(first + 776, 2999))
        batch[len(batch) // 2] = EpochRecord(epoch=batch[len(batch) // 2].epoch, loss=None)
        assert history.append_epochs(session, run_id, attempt, batch)
        session.commit()
        assert _blocks(session, run_id) == _expected_blocks(session, run_id)
    # A restarted attempt rewrites a stretch with other values.
    second = leases.claim(session, run_id, lease_timeout_s=-1)
    assert second == 2
    assert history.append_epochs(session, run_id, second, records(1000, 1100, scale=-3.0))
    session.commit()
    assert _blocks(session, run_id) == _expected_blocks(session, run_id)
    assert history.truncate_history(session, run_id, second, after_epoch=1500)
    session.commit()
    assert _blocks(session, run_id) == _expected_blocks(session, run_id)
    assert max(b[0] for b in _blocks(session, run_id)) == 1500 // downsampling.BLOCK


def test_block_summaries_of_one_large_batch(running: tuple[Session, str, int]) -> None:
    """More blocks than one INSERT of summaries holds: every one is written, once."""
    session, run_id, attempt = running
    epochs = (downsampling.INSERT_ROWS * 2 + 7) * downsampling.BLOCK
    assert history.append_epochs(session, run_id, attempt, records(0, epochs - 1))
    session.commit()
    blocks = _blocks(session, run_id)
    assert len(blocks) == epochs // downsampling.BLOCK
    assert blocks == _expected_blocks(session, run_id)


def test_downsample_of_a_long_history_uses_blocks_and_keeps_extremes(
    running: tuple[Session, str, int],
) -> None:
    session, run_id, attempt = running
    n = downsampling.FULL_SCAN_MAX + 15_000
    loss = np.exp(-np.arange(n) / 5000.0)
    loss[23_456], loss[31_000] = 50.0, -1.0
    batch = [EpochRecord(epoch=e, loss=float(v)) for e, v in enumerate(loss)]
    for first in range(0, n, 10_000):
        assert history.append_epochs(session, run_id, attempt, batch[first : first + 10_000])
        session.commit()
    rows = history.downsample(session, run_id, 500)
    _check_sample(rows, points=500, n=n, kept=(23_456, 31_000))
    # Every picked point is a real row with its real loss.
    assert all(r["loss"] == pytest.approx(loss[r["epoch"]]) for r in rows)


def test_block_buckets_pick_what_a_plain_loop_over_the_summaries_picks(
    running: tuple[Session, str, int],
) -> None:
    """The long-history path (SQL over epoch_block) equals a loop over the same summaries."""
    session, run_id, attempt = running
    n = downsampling.FULL_SCAN_MAX + 7_001
    rng = np.random.default_rng(11)
    loss = np.round(rng.normal(size=n), 1)  # ties within and across blocks
    loss[3_200:3_264] = np.nan  # two blocks without a loss
    loss[9_600:12_800] = 0.25  # buckets of one value
    batch = [
        EpochRecord(epoch=e, loss=None if np.isnan(v) else float(v)) for e, v in enumerate(loss)
    ]
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    buckets = 249
    blocks = session.execute(
        text("SELECT block, min_epoch, min_loss, max_epoch, max_loss FROM epoch_block"
             " WHERE run_id = :r ORDER BY block"), {"r": run_id},
    ).all()  # fmt: skip
    low: dict[int, tuple[float, int]] = {}
    high: dict[int, tuple[float, int]] = {}
    for block, min_epoch, min_loss, max_epoch, max_loss in blocks:
        k = min(max(block * downsampling.BLOCK * buckets // n, 0), buckets - 1)
        if min_loss is not None and (k not in low or min_loss < low[k][0]):
            low[k] = (min_loss, min_epoch)
        if max_loss is not None and (k not in high or max_loss > high[k][0]):
            high[k] = (max_loss, max_epoch)
    expected = {e for _, e in low.values()} | {e for _, e in high.values()} | {0, n - 1}
    expected = downsampling.spread(expected, 0, n - 1, 500)
    assert [r["epoch"] for r in history.downsample(session, run_id, 500)] == sorted(expected)


def _check_sample(
    rows: list[dict[str, Any]], *, points: int, n: int, kept: tuple[int, ...]
) -> list[int]:
    """Assert a downsample of `n` epochs is ordered, ≤ `points` rows, with both ends and `kept`."""
    epochs = [r["epoch"] for r in rows]
    assert len(rows) <= points
    assert epochs == sorted(set(epochs))
    assert epochs[0] == 0 and epochs[-1] == n - 1
    assert all(epoch in epochs for epoch in kept)
    return epochs
