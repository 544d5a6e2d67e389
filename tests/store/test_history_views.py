"""Downsampled views as JSON bytes, on both backends: the rows, the picks, the column reads."""

from __future__ import annotations

import math

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from descent_server.ml.types import EpochRecord
from descent_server.repository import downsampling, history
from descent_server.repository.epoch_rows import SELECT, fetch, fetch_columns, json_rows, to_dict
from tests.helpers.runs import records


def _store(session: Session, run_id: str, attempt: int, batch: list[EpochRecord]) -> None:
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()


def test_json_rows_are_the_dict_rows(running: tuple[Session, str, int]) -> None:
    """The spliced JSON and `to_dict` agree on every key, its order and every value."""
    session, run_id, attempt = running
    odd = [
        EpochRecord(epoch=0, loss=1e16, val_loss=-0.0, accuracy=5e-324, mae=1.0,
                    params={"a": 1e-300, "w": [[1.5, math.nan]]}),
        EpochRecord(epoch=1, loss=math.inf, val_mae=123456789.125, weight_norms={"d/k": 2.0}),
    ]  # fmt: skip
    _store(session, run_id, attempt, odd + records(2, 40))
    rows = fetch(session, f"{SELECT} WHERE run_id = ? ORDER BY epoch", [run_id])
    parsed = orjson.loads(f"[{json_rows(rows)}]")
    expected = [to_dict(row) for row in rows]
    assert parsed == expected
    assert [list(row) for row in parsed] == [list(row) for row in expected]  # key order
    assert parsed[0]["params"] == {"a": 1e-300, "w": [[1.5, None]]}
    assert parsed[1]["loss"] is None and parsed[1]["val_mae"] == 123456789.125


def test_view_bytes_are_the_stored_rows_of_the_picks(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    _store(session, run_id, attempt, records(0, 2999, scale=3.0))
    every = history.read_history(session, run_id).rows
    picks = downsampling.pick_epochs(session, run_id, 100)
    assert picks is not None and len(picks) == 100
    view = orjson.loads(history.downsample_json(session, run_id, 100))
    assert view == [every[epoch] for epoch in picks]
    assert history.downsample(session, run_id, 100) == view
    after = orjson.loads(history.downsample_json(session, run_id, 100, since_epoch=1500))
    assert after == [row for row in view if row["epoch"] > 1500]
    # Fewer epochs than points: every row, from `since_epoch` on.
    assert orjson.loads(history.downsample_json(session, run_id, 5000, 2990)) == every[2991:]
    none = orjson.loads(history.downsample_json(session, run_id, 100, since_epoch=2999))
    assert none == []


def test_picks_bucket_by_epoch_when_epochs_have_gaps(running: tuple[Session, str, int]) -> None:
    """Buckets are equal stretches of epochs (not of rows): a plain loop agrees."""
    session, run_id, attempt = running
    rng = np.random.default_rng(3)
    epochs = np.r_[np.arange(0, 700), np.arange(1900, 2600), np.arange(2650, 2700)]
    loss = np.round(rng.normal(size=epochs.size), 1)  # ties
    loss[[5, 800]] = np.nan
    batch = [
        EpochRecord(epoch=int(e), loss=None if np.isnan(v) else float(v))
        for e, v in zip(epochs, loss, strict=True)
    ]
    _store(session, run_id, attempt, batch)
    buckets, lo, hi = 49, int(epochs[0]), int(epochs[-1])
    low: dict[int, tuple[float, int]] = {}
    high: dict[int, tuple[float, int]] = {}
    for epoch, value in zip(epochs.tolist(), loss.tolist(), strict=True):
        if math.isnan(value):
            continue
        k = (
            0
            if epoch == lo
            else buckets - 1
            if epoch == hi
            else (epoch - lo - 1) * buckets // (hi - lo - 1)
        )
        if k not in low or value < low[k][0]:
            low[k] = (value, epoch)
        if k not in high or value > high[k][0]:
            high[k] = (value, epoch)
    expected = {e for _, e in low.values()} | {e for _, e in high.values()} | {lo, hi}
    expected = downsampling.spread(expected, lo, hi, 100)
    assert downsampling.pick_epochs(session, run_id, 100) == sorted(expected)


def test_fetch_columns_reads_ints_floats_and_nulls(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    batch = records(0, 9)
    batch[3] = EpochRecord(epoch=3, loss=None)
    _store(session, run_id, attempt, batch)
    where = "FROM epoch WHERE run_id = ?"
    epoch, loss = fetch_columns(session, {"epoch": int, "loss": float}, where, [run_id])
    order = np.argsort(epoch)
    assert epoch.dtype == np.int64 and loss.dtype == np.float64
    assert epoch[order].tolist() == list(range(10))
    assert np.isnan(loss[order][3])
    assert loss[order][[0, 9]].tolist() == [1.0, 0.1]
    empty = fetch_columns(session, {"epoch": int, "loss": float}, where, ["no such run"])
    assert [(a.dtype, a.size) for a in empty] == [
        (np.dtype(np.int64), 0),
        (np.dtype(np.float64), 0),
    ]
    blocks = session.execute(
        text("SELECT count(*) FROM epoch_block WHERE run_id = :r"), {"r": run_id}
    )
    columns = {"min_epoch": int, "max_loss": float}
    got = fetch_columns(session, columns, "FROM epoch_block WHERE run_id = ?", [run_id])
    assert got[0].size == got[1].size == blocks.scalar_one() == 1


def test_first_extremes_matches_a_plain_loop() -> None:
    """Any order of rows; ties go to the first epoch; a bucket of NaNs has no extreme."""
    rng = np.random.default_rng(5)
    epochs = np.arange(400)
    values = np.round(rng.normal(size=400), 1)
    values[100:120] = np.nan  # bucket 5 has no loss
    bucket = epochs // 20
    shuffled = rng.permutation(400)
    got = downsampling.first_extremes(
        bucket[shuffled], values[shuffled], epochs[shuffled], values[shuffled], epochs[shuffled]
    )
    expected: set[int] = set()
    for k in range(20):
        inside = [(float(v), int(e)) for e, v in zip(epochs, values, strict=True)
                  if e // 20 == k and not np.isnan(v)]  # fmt: skip
        if inside:
            expected.add(min(inside)[1])
            expected.add(min((-v, e) for v, e in inside)[1])
    assert got == expected
    assert not any(100 <= e < 120 for e in got)
