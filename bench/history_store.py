"""P4: store 100,000 epoch rows of one run, fetch them back, and a 1,000-point downsampled view.

Usage: python -m bench.history_store [--rows 100000] [--runs 3] [--backends postgres sqlite]

Each backend gets a fresh migrated database (PostgreSQL: `descent_bench_<uuid8>` on
127.0.0.1:5432, dropped at the end; SQLite: a temp file). Baselines run in the same process:
- store: one row per transaction through the ORM, like MLflow's unbatched `log_metric`
  (mlflow#3010), timed on 1,000 rows and extrapolated linearly to the full count;
- fetch: the whole history through ORM objects, extra decoded with the json module;
- downsample: the same ORM fetch of every row, then the same min/max selection in Python.
Ours: `repository.history` (COPY/upsert batches, raw-cursor reads, numpy downsampling).
Prints work | baseline | ours | ratio | goal | pass (times are medians of --runs runs).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.common import median_time, print_table, scratch_postgres
from descent_server.db.migrate import upgrade
from descent_server.db.models import Epoch, Run
from descent_server.db.session import make_engine
from descent_server.ml.types import EpochRecord
from descent_server.repository import downsampling, history, leases

BASELINE_ROWS = 1_000
timed = functools.partial(median_time, warm_up=False)  # each call does its own work
GOALS = {"store": 1.0, "fetch": 1.0, "downsample": 0.1}  # seconds, on PostgreSQL (issue 6)


@contextmanager
def database(backend: str) -> Iterator[str]:
    """Yield the URL of a fresh migrated database, removed afterwards."""
    if backend == "postgres":
        with scratch_postgres() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        yield url


def make_records(n: int) -> list[EpochRecord]:
    """Return n regression-like records (a loss curve with noise, params a and b)."""
    rng = np.random.default_rng(0)
    loss = np.exp(-np.arange(n) / (n / 5)) + 0.01 * rng.random(n)
    return [
        EpochRecord(epoch=i, loss=float(loss[i]), params={"a": 0.07 + i * 1e-9, "b": -100.0 + i})
        for i in range(n)
    ]


def new_run(factory: sessionmaker[Session]) -> tuple[str, int]:
    """Insert a running run; return (id, attempt)."""
    run_id = str(uuid.uuid4())
    with factory() as session:
        session.add(Run(id=run_id, owner="bench", kind="linear_regression",
                        dataset_id="builtin:movies", features=["x"], target="y",
                        hyperparameters={}, epochs=0))  # fmt: skip
        session.flush()
        attempt = leases.claim(session, run_id)
        session.commit()
    assert attempt is not None
    return run_id, attempt


def store_ours(factory: sessionmaker[Session], records: list[EpochRecord]) -> Callable[[], None]:
    def run() -> None:
        run_id, attempt = new_run(factory)
        with factory() as session:
            assert history.append_epochs(session, run_id, attempt, records)
            session.commit()

    return run


def store_baseline(factory: sessionmaker[Session], records: list[EpochRecord]) -> float:
    """Time BASELINE_ROWS single-row transactions; return the time extrapolated to all rows."""
    run_id, _ = new_run(factory)
    start = time.perf_counter()
    for r in records[:BASELINE_ROWS]:
        with factory() as session:
            extra = json.dumps({"params": dict(r.params), "grad_norms": {}, "weight_norms": {}})
            session.add(Epoch(run_id=run_id, epoch=r.epoch, loss=r.loss, extra=extra))
            session.commit()
    return (time.perf_counter() - start) * len(records) / BASELINE_ROWS


def orm_fetch(session: Session, run_id: str) -> list[dict[str, object]]:
    """The plain way: ORM objects, json.loads per row."""
    rows = session.scalars(select(Epoch).where(Epoch.run_id == run_id).order_by(Epoch.epoch))
    return [{"epoch": e.epoch, "loss": e.loss, **json.loads(e.extra or "{}")} for e in rows]


def orm_downsample(session: Session, run_id: str, points: int) -> list[dict[str, object]]:
    """The plain way: fetch every row, then pick bucket minima and maxima in Python."""
    rows = orm_fetch(session, run_id)
    loss = np.array([np.nan if r["loss"] is None else r["loss"] for r in rows], dtype=float)
    return [rows[i] for i in downsampling.pick_min_max(loss, points)]


def bench_backend(backend: str, n: int, runs: int) -> list[list[str]]:
    """Return the table rows of one backend."""
    records = make_records(n)
    with database(backend) as url:
        engine = make_engine(url)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        try:
            store_base = store_baseline(factory, records)
            store = timed(store_ours(factory, records), runs)
            run_id, attempt = new_run(factory)
            with factory() as session:
                history.append_epochs(session, run_id, attempt, records)
                session.commit()
            with factory() as session:
                fetch_base = timed(lambda: orm_fetch(session, run_id), runs)
                fetch = timed(lambda: history.read_history(session, run_id), runs)
                pages = timed(lambda: _paged(session, run_id), runs)
                as_json = timed(lambda: history.read_history_json(session, run_id), runs)
                down_base = timed(lambda: orm_downsample(session, run_id, 1000), runs)
                down = timed(lambda: history.downsample(session, run_id, 1000), max(runs, 5))
                assert len(history.downsample(session, run_id, 1000)) <= 1000
        finally:
            engine.dispose()
    k = f"{n // 1000}k"
    return [
        row(backend, f"store {k} rows", store_base, store, GOALS["store"], "(1k, extrapolated)"),
        row(backend, f"fetch {k} rows", fetch_base, fetch, GOALS["fetch"]),
        row(backend, f"fetch {k} rows in 10k pages", fetch_base, pages, GOALS["fetch"]),
        row(backend, f"fetch {k} rows as JSON bytes", fetch_base, as_json, GOALS["fetch"]),
        row(backend, "downsample to 1,000 points", down_base, down, GOALS["downsample"]),
    ]  # fmt: skip


def _paged(session: Session, run_id: str) -> int:
    since, total = None, 0
    while True:
        page = history.read_history(session, run_id, since_epoch=since, limit=10_000)
        total += len(page.rows)
        if page.next_since_epoch is None:
            return total
        since = page.next_since_epoch


def row(
    backend: str, work: str, base: float, ours: float, goal: float, note: str = ""
) -> list[str]:
    """Format one table row; the goal applies on PostgreSQL, SQLite is for information."""
    passed = ours <= goal
    verdict = (
        ("pass" if passed else "FAIL")
        if backend == "postgres"
        else ("(pass)" if passed else "(miss)")
    )
    return [f"{backend}: {work}", f"{base:.3f} s {note}".strip(), f"{ours:.3f} s",
            f"{base / ours:.0f}x", f"<= {goal:g} s", verdict]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a PostgreSQL goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"])
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rows = [r for b in args.backends for r in bench_backend(b, args.rows, args.runs)]
    print(
        f"# {os.cpu_count()} CPUs; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print_table([tuple(r) for r in rows])
    return 1 if any(r[-1] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
