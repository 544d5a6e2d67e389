"""Measure live-progress latency: epoch stored (committed) -> SSE client receives it.

Starts a real uvicorn server on a fresh database, opens `--listeners` event streams on one
run, then stores epochs one commit at a time (as the worker's history flush does) at random
intervals and records, per listener and epoch, the time from commit to receipt.

    .venv/bin/python bench/events_latency.py                      # embedded SQLite
    .venv/bin/python bench/events_latency.py --postgres   # a scratch PostgreSQL database

Measured 2026-11-28 on the 2-core dev box while other test suites ran (load average ~8),
150 epochs at random 20-300 ms intervals, poll interval 0.1 s:
    SQLite      1 listener  p50  57 ms  p99 144 ms | 20 listeners p50 74 ms  p99 237 ms
    PostgreSQL  1 listener  p50  59 ms  p99 209 ms | 20 listeners p50 94 ms  p99 277 ms
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from descent_server.db.migrate import upgrade
from descent_server.db.models import Run
from descent_server.db.session import make_engine
from descent_server.ml.types import EpochRecord
from descent_server.repository import history, leases
from descent_server.services import keys

PG = "postgres@127.0.0.1:5432"


def free_port() -> int:
    """Return a free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """Start uvicorn with the real app on `url`; return when /healthz answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    env.update(DESCENT_DATABASE_URL=url, DESCENT_DATA_DIR=str(data_dir))
    command = [sys.executable, "-m", "uvicorn", "descent_server.api.app:create_app", "--factory",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def make_run(session: Session, owner: str) -> tuple[str, int]:
    """Insert a run and take its lease as a worker would; return (run id, attempt)."""
    run = Run(
        id=str(uuid.uuid4()), owner=owner, kind="linear_regression",
        dataset_id="builtin:movies", features=["num_want_to_see"], target="nums_audience",
        hyperparameters={"learning_rate": 2e-10}, epochs=1_000_000,
    )  # fmt: skip
    session.add(run)
    session.commit()
    attempt = leases.claim(session, run.id)
    session.commit()
    assert attempt is not None
    return run.id, attempt


async def listen(base: str, key: str, run_id: str, received: dict[int, float]) -> None:
    """Stream the run's events, noting when each epoch arrives."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client:
        url = f"{base}/v1/runs/{run_id}/events"
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    received[int(line[3:])] = time.perf_counter()
                elif line.startswith("data:") and '"status":"succeeded"' in line:
                    return


def write_epochs(
    engine: object, run_id: str, attempt: int, n: int, gap: tuple[float, float]
) -> dict[int, float]:
    """Store epochs one commit at a time; return commit times."""
    stored: dict[int, float] = {}
    with Session(engine) as session:  # type: ignore[arg-type]
        for epoch in range(n):
            time.sleep(random.uniform(*gap))
            record = EpochRecord(epoch=epoch, loss=1.0 / (epoch + 1), params={"a": 0.1, "b": 2})
            history.append_epochs(session, run_id, attempt, [record])
            session.commit()
            stored[epoch] = time.perf_counter()
        leases.finish(session, run_id, attempt, "succeeded", result={})
        session.commit()
    return stored


async def measure(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, object]:
    """Run the server, the listeners and the writer; return the latency summary."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = keys.create(session=session, owner="bench")
        run_id, attempt = make_run(session, "bench")
    port = free_port()
    server = start_server(url, port, data_dir)
    try:
        base = f"http://127.0.0.1:{port}"
        received: list[dict[int, float]] = [{} for _ in range(args.listeners)]
        tasks = [asyncio.create_task(listen(base, key, run_id, r)) for r in received]
        await asyncio.sleep(1.0)  # every stream is open and idle
        gap = (args.min_gap, args.max_gap)
        stored = await asyncio.to_thread(write_epochs, engine, run_id, attempt, args.epochs, gap)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=10)
        engine.dispose()
    latencies = sorted((r[e] - t) * 1000 for r in received for e, t in stored.items() if e in r)
    missing = sum(len(stored) - len(r) for r in received)
    q = statistics.quantiles(latencies, n=100)
    return {
        "database": url.split(":")[0],
        "listeners": args.listeners,
        "epochs": args.epochs,
        "samples": len(latencies),
        "missing": missing,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(latencies[-1], 1),
    }


def main() -> None:
    """Parse arguments, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument(
        "--postgres", action="store_true", help="create (and drop) a scratch database on " + PG
    )
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--min-gap", type=float, default=0.02, help="seconds between epochs")
    parser.add_argument("--max-gap", type=float, default=0.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.postgres) as scratch:
        url = scratch or args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(json.dumps(asyncio.run(measure(args, url, Path(tmp)))))


@contextlib.contextmanager
def scratch_database(wanted: bool) -> Iterator[str | None]:
    """Yield the URL of a fresh PostgreSQL database (dropped afterwards), or None."""
    if not wanted:
        yield None
        return
    import psycopg

    name = f"descent_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield f"postgresql+psycopg://{PG}/{name}"
    finally:
        with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
