"""The history write path on both backends: binary COPY on PostgreSQL stores every value as
the upsert does (text that COPY's text format would escape, numpy scalars, the float bits),
batches out of order, and a batch that both overwrites and appends."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.ml.types import EpochRecord
from descent_server.repository import history


def stored(session: Session, run_id: str) -> list[tuple[object, ...]]:
    """Return the raw stored columns of a run's epochs, in epoch order."""
    sql = "SELECT epoch, loss, val_loss, accuracy, extra, recorded_at FROM epoch"
    rows = session.execute(text(sql + " WHERE run_id = :r ORDER BY epoch"), {"r": run_id})
    return [tuple(row) for row in rows]


def test_text_and_numbers_are_stored_exactly(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    awkward = {"tab\there": 1.0, "back\\slash": 2.0, "new\nline": 3.0, "ünïcødé ✓": 4.0}
    loss = 0.1 + 0.2  # a float whose shortest text form is 17 digits
    records = [
        EpochRecord(epoch=0, loss=loss, params={"a": np.float64(-0.75), "b": -100.0},
                    grad_norms=awkward),
        EpochRecord(epoch=1, loss=math.nan, val_loss=math.inf, accuracy=np.float32(0.5),
                    params={"weights": np.array([1e-300, 5e-324]), "bias": -0.0}),
    ]  # fmt: skip
    at = [1_700_000_000.123456, 1_700_000_001.000001]
    assert history.append_epochs(session, run_id, attempt, records, at)
    session.commit()
    (e0, l0, v0, a0, x0, t0), (e1, l1, v1, a1, x1, t1) = stored(session, run_id)
    assert (e0, l0, v0, a0, t0) == (0, loss, None, None, at[0])
    assert (e1, l1, v1, a1, t1) == (1, None, None, 0.5, at[1])
    assert x0 == (
        '{"params":{"a":-0.75,"b":-100.0},"grad_norms":{"tab\\there":1.0,"back\\\\slash":2.0,'
        '"new\\nline":3.0,"ünïcødé ✓":4.0},"weight_norms":{}}'
    )
    assert (
        x1 == '{"params":{"weights":[1e-300,5e-324],"bias":-0.0},"grad_norms":{},"weight_norms":{}}'
    )
    rows = history.read_history(session, run_id).rows
    assert rows[0]["grad_norms"] == awkward and rows[1]["params"]["weights"] == [1e-300, 5e-324]


def test_a_batch_out_of_order_is_stored_once_per_epoch(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    batch = [EpochRecord(epoch=e, loss=float(e)) for e in (0, 2, 1, 3)]
    batch.append(EpochRecord(epoch=1, loss=42.0))  # the last record of an epoch wins
    assert history.append_epochs(session, run_id, attempt, batch)
    session.commit()
    assert [(e, loss) for e, loss, *_ in stored(session, run_id)] == [
        (0, 0.0), (1, 42.0), (2, 2.0), (3, 3.0)
    ]  # fmt: skip
    assert session.get_one(Run, run_id).progress_epoch == 3


def test_a_batch_that_overwrites_and_appends(running: tuple[Session, str, int]) -> None:
    session, run_id, attempt = running
    first = [EpochRecord(epoch=e, loss=float(e)) for e in range(5)]
    assert history.append_epochs(session, run_id, attempt, first)
    session.commit()
    again = [EpochRecord(epoch=e, loss=10.0 + e) for e in range(3, 8)]  # a resumed attempt
    assert history.append_epochs(session, run_id, attempt, again)
    session.commit()
    assert [loss for _, loss, *_ in stored(session, run_id)] == [0, 1, 2, 13, 14, 15, 16, 17]
