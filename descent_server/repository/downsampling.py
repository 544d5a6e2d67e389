"""Downsampled history that keeps the loss curve's shape, without reading every row.

Each block of BLOCK consecutive epochs has a summary row (table `epoch_block`): where its loss
is lowest and highest. The writer keeps them current in the same transaction as the epochs,
so a 1,000-point view of a 100,000-epoch run reads ~3,000 summaries and then 1,000 rows.
Short histories (up to FULL_SCAN_MAX epochs) are bucketed straight from the epoch rows' loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from descent_server.repository.epoch_rows import fetch, fetch_columns

BLOCK = 32
FULL_SCAN_MAX = 20_000
_BLOCK_COLUMNS = "run_id, block, min_epoch, min_loss, max_epoch, max_loss"
INSERT_ROWS = 150  # × 6 values: under SQLite's oldest limit of 999 per statement


def summarize(epochs: np.ndarray, loss: np.ndarray) -> list[tuple[int, int, Any, int, Any]]:
    """Return (block, min_epoch, min_loss, max_epoch, max_loss) per block; NaN = missing."""
    if epochs.size == 0:
        return []
    block = epochs // BLOCK
    change = np.r_[True, block[1:] != block[:-1]]
    starts = np.flatnonzero(change)
    segment = np.cumsum(change) - 1
    low = np.where(np.isnan(loss), np.inf, loss)
    high = np.where(np.isnan(loss), -np.inf, loss)
    lows, highs = np.minimum.reduceat(low, starts), np.maximum.reduceat(high, starts)
    # The first position of each block holding its min (max): every block has one.
    at_min = np.flatnonzero(low == lows[segment])
    at_max = np.flatnonzero(high == highs[segment])
    first_min = at_min[np.unique(segment[at_min], return_index=True)[1]]
    first_max = at_max[np.unique(segment[at_max], return_index=True)[1]]
    return [
        (int(block[s]), int(epochs[i]), _loss(lo), int(epochs[j]), _loss(hi))
        for s, i, lo, j, hi in zip(starts, first_min, lows, first_max, highs, strict=True)
    ]


def _loss(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _pairs(session: Session, run_id: str, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    rows = fetch(
        session,
        "SELECT epoch, loss FROM epoch WHERE run_id = ? AND epoch BETWEEN ? AND ? ORDER BY epoch",
        [run_id, first, last],
    )
    epochs = np.array([r[0] for r in rows], dtype=np.int64)
    loss = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=np.float64)
    return epochs, loss


def _replace_blocks(
    session: Session, run_id: str, first_block: int, last_block: int | None, summaries: list[Any]
) -> None:
    conn = session.connection()
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = f"DELETE FROM epoch_block WHERE run_id = {mark} AND block >= {mark}"
    params: tuple[Any, ...] = (run_id, first_block)
    if last_block is not None:
        sql += f" AND block <= {mark}"
        params += (last_block,)
    conn.exec_driver_sql(sql, params)
    # One multi-row INSERT per INSERT_ROWS summaries: a statement per row (executemany)
    # cost more than the summaries themselves on every history flush.
    for start in range(0, len(summaries), INSERT_ROWS):
        chunk = summaries[start : start + INSERT_ROWS]
        values = ", ".join([f"({', '.join([mark] * 6)})"] * len(chunk))
        params = tuple(value for s in chunk for value in (run_id, *s))
        conn.exec_driver_sql(f"INSERT INTO epoch_block ({_BLOCK_COLUMNS}) VALUES {values}", params)


def after_write(
    session: Session, run_id: str, rows: Sequence[tuple[Any, ...]], stored: int
) -> None:
    """Refresh the summaries of the blocks touched by `rows` (epoch rows just written)."""
    epochs = np.array([r[1] for r in rows], dtype=np.int64)
    first, last = int(epochs.min()), int(epochs.max())
    if first > stored and bool(np.all(np.diff(epochs) > 0)):
        # Appended in order: the batch itself has the values; only the start of a block
        # begun by an earlier batch is read back.
        loss = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
        head = first - first % BLOCK
        if head < first:
            old_epochs, old_loss = _pairs(session, run_id, head, first - 1)
            epochs, loss = np.r_[old_epochs, epochs], np.r_[old_loss, loss]
    else:  # overwrote stored epochs: recount the touched blocks from the table
        epochs, loss = _pairs(
            session, run_id, first - first % BLOCK, last - last % BLOCK + BLOCK - 1
        )
    _replace_blocks(session, run_id, first // BLOCK, last // BLOCK, summarize(epochs, loss))


def after_truncate(session: Session, run_id: str, after_epoch: int) -> None:
    """Drop the summaries past `after_epoch` and recount the block it ends in."""
    block = max(after_epoch, 0) // BLOCK
    epochs, loss = _pairs(session, run_id, block * BLOCK, after_epoch)
    _replace_blocks(session, run_id, block, None, summarize(epochs, loss))


# The ends are kept anyway and belong to the first and last bucket, so a bucket never spends
# a point on what an end already shows (a falling curve's bucket next to epoch 0).
# The extremes are found in numpy, from the columns the database hands over in one row of
# arrays: no sort or window for PostgreSQL to plan from the estimate of a run written a
# moment ago (1 row), which made the SQL versions cost 2-3x the scan itself.
_ROWS = "FROM epoch WHERE run_id = ? AND epoch >= ? AND epoch <= ? AND loss IS NOT NULL"
_SUMMARIES = "FROM epoch_block WHERE run_id = ?"


def pick_epochs(session: Session, run_id: str, max_points: int) -> list[int] | None:
    """Return at most `max_points` epochs that keep the loss curve's shape, or None for all.

    The first and last epoch, and the lowest and highest loss of each of (max_points - 2) / 2
    equal epoch buckets (for long histories, buckets are made of whole blocks); points left
    over (a bucket whose extremes are the ends, an odd count) go to evenly spaced epochs.
    Ties go to the first epoch. None: the run has no more epochs than that (or none), so
    every row is the answer.
    """
    max_points = max(int(max_points), 2)
    lo, hi = fetch(session, "SELECT min(epoch), max(epoch) FROM epoch WHERE run_id = ?",
                   [run_id])[0]  # fmt: skip
    if lo is None or hi - lo + 1 <= max_points:
        return None
    buckets = (max_points - 2) // 2
    keep: set[int] = {lo, hi}
    if buckets and hi - lo + 1 <= FULL_SCAN_MAX:
        epochs, loss = fetch_columns(session, {"epoch": int, "loss": float}, _ROWS,
                                     [run_id, lo, hi])  # fmt: skip
        inner = (epochs - lo - 1) * buckets // (hi - lo - 1)  # the ends' own buckets below
        bucket = np.where(epochs == lo, 0, np.where(epochs == hi, buckets - 1, inner))
        keep |= first_extremes(bucket, loss, epochs, loss, epochs)
    elif buckets:
        columns = {"min_epoch": int, "min_loss": float, "max_epoch": int, "max_loss": float}
        min_epoch, min_loss, max_epoch, max_loss = fetch_columns(
            session, columns, _SUMMARIES, [run_id]
        )
        # A block belongs to the bucket its first epoch (block * BLOCK) falls in.
        start = min_epoch // BLOCK * BLOCK - lo
        bucket = np.clip(start * buckets // (hi - lo + 1), 0, buckets - 1)
        keep |= first_extremes(bucket, min_loss, min_epoch, max_loss, max_epoch)
    return sorted(spread(keep, lo, hi, max_points))


def spread(keep: set[int], lo: int, hi: int, max_points: int) -> set[int]:
    """Fill the points `keep` leaves unused with evenly spaced positions far from its own."""
    spare = max_points - len(keep)
    if spare <= 0:
        return keep
    grid = np.unique(np.rint(np.linspace(lo, hi, max_points)).astype(np.int64))
    kept = np.array(sorted(keep), dtype=np.int64)
    grid = grid[~np.isin(grid, kept)]
    # Distance from each grid position to the nearest kept one: fill the widest gaps first.
    at = np.searchsorted(kept, grid)
    gap = np.minimum(
        np.abs(grid - kept[np.clip(at - 1, 0, kept.size - 1)]),
        np.abs(kept[np.clip(at, 0, kept.size - 1)] - grid),
    )
    chosen = grid[np.argsort(-gap, kind="stable")[:spare]]
    return keep | {int(e) for e in chosen}


def first_extremes(
    bucket: np.ndarray,
    low: np.ndarray,
    low_epoch: np.ndarray,
    high: np.ndarray,
    high_epoch: np.ndarray,
) -> set[int]:
    """Return, per bucket, the first epoch of its lowest `low` and of its highest `high`.

    The arrays run in parallel (one entry per row, or per block summary, in any order) and
    buckets must not decrease as epochs grow. NaN (no loss) is never an extreme: a bucket
    of NaNs only has none.
    """
    picks: set[int] = set()
    for values, epochs in ((low, low_epoch), (-high, high_epoch)):
        found = ~np.isnan(values)
        b, v, e = bucket[found], values[found], epochs[found]
        if e.size and bool(np.any(e[1:] < e[:-1])):  # scans usually hand them over in order
            order = np.argsort(e, kind="stable")
            b, v, e = b[order], v[order], e[order]
        if not e.size:
            continue
        # In epoch order each bucket is one stretch of positions.
        change = np.r_[True, b[1:] != b[:-1]]
        segment = np.cumsum(change) - 1
        at = np.flatnonzero(v == np.minimum.reduceat(v, np.flatnonzero(change))[segment])
        first = at[np.r_[True, segment[at][1:] != segment[at][:-1]]]
        picks.update(e[first].tolist())
    return picks


def pick_min_max(values: np.ndarray, max_points: int) -> np.ndarray:
    """Return sorted indices: first, last, each bucket's min and max, spread spares (NaN-safe).

    The same picks as `pick_epochs`: the ends belong to the first and last bucket.
    """
    n = values.size
    if n <= max_points:
        return np.arange(n)
    buckets = (max_points - 2) // 2
    picked = np.array([0, n - 1])
    if buckets:
        index = np.arange(n)
        bucket = np.clip((index - 1) * buckets // (n - 2), 0, buckets - 1)
        bucket[-1] = buckets - 1
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        low = np.where(np.isnan(values), np.inf, values)
        high = np.where(np.isnan(values), -np.inf, values)
        at_min = low == np.minimum.reduceat(low, starts)[bucket]
        at_max = high == np.maximum.reduceat(high, starts)[bucket]
        # A bucket of NaNs only has no extreme (SQL skips NULL losses).
        at_min &= np.isfinite(low) | ~np.isnan(values)
        at_max &= np.isfinite(high) | ~np.isnan(values)
        first_min = np.unique(bucket[at_min], return_index=True)[1]
        first_max = np.unique(bucket[at_max], return_index=True)[1]
        picked = np.r_[picked, index[at_min][first_min], index[at_max][first_max]]
    keep = spread({int(i) for i in picked}, 0, n - 1, max_points)
    return np.array(sorted(keep), dtype=np.int64)
