"""H: the history over HTTP on PostgreSQL, each figure against the repository's own.

Usage: python -m bench.http_history [--epochs 100000] [--views 10000 100000 1000000]

A real deployment (`descent-server api`, one prefork Celery worker, PostgreSQL, Redis; auth
off) on a scratch database. The regression is full-batch; a run of N epochs stores N + 1
rows (epoch 0 is the state before training). Baselines, in the same process and database:
- ingest: `repository.history.append_epochs` of the same number of rows in one call;
- full fetch: `read_history_json` page by page (10,000 rows, every column), no HTTP;
- 1,000-point view: `repository.history.downsample` on the same run.
Ours: POST → succeeded (every epoch stored), GET /history in 10,000-row pages, and
GET /history?max_points=1000. Times are medians of --runs runs (ingest: one run).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from typing import Any, cast

import httpx

from bench.common import Row, fmt_time, median_time, print_table, production_stack
from bench.history_store import make_records, new_run
from bench.runs import MOVIES, NO_LIMITS, submit
from descent_server.domain import Status

PAGE = 10_000
VIEW = 1_000
timed = functools.partial(median_time, warm_up=True)
GOALS = {"ingest": 1.0, "fetch_ratio": 1.5, "view": 0.020}  # issue 17


def train(client: httpx.Client, epochs: int) -> tuple[str, float]:
    """POST a full-batch regression of `epochs` epochs; return (id, seconds to succeeded)."""
    hyperparameters = cast(dict[str, Any], MOVIES["hyperparameters"])
    request = {**MOVIES, "hyperparameters": {**hyperparameters, "epochs": epochs}}
    began = time.perf_counter()
    run_id = submit(client, request)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        run = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] == Status.SUCCEEDED:
            return run_id, time.perf_counter() - began
        if run["status"] != Status.QUEUED and run["status"] != Status.RUNNING:
            raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('error')}")
        time.sleep(0.01)
    raise TimeoutError(f"run {run_id} of {epochs} epochs not done in 600 s")


def fetch_http(client: httpx.Client, run_id: str) -> int:
    """GET the whole history in PAGE-row pages (every column); return the row count."""
    since: int | None = None
    total = 0
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if since is not None:
            params["since_epoch"] = since
        page = client.get(f"/v1/runs/{run_id}/history", params=params)
        page.raise_for_status()
        body = page.json()
        total += len(body["epochs"])
        since = body["next_since_epoch"]
        if since is None:
            return total


def view_http(client: httpx.Client, run_id: str) -> int:
    """GET the 1,000-point view; return its row count."""
    page = client.get(f"/v1/runs/{run_id}/history", params={"max_points": VIEW})
    page.raise_for_status()
    return len(page.json()["epochs"])


def fetch_repo(run_id: str) -> int:
    """Read the whole history as JSON bytes in PAGE-row pages through the repository."""
    from descent_server.db.session import session_scope
    from descent_server.repository import history

    total = 0
    with session_scope() as session:
        since: int | None = None
        while True:
            body, since = history.read_history_json(session, run_id, since, PAGE)
            total += len(body)
            if since is None:
                return total


def view_repo(run_id: str) -> int:
    """The repository's own 1,000-point view of the run."""
    from descent_server.db.session import session_scope
    from descent_server.repository import history

    with session_scope() as session:
        return len(history.downsample(session, run_id, VIEW))


def store_repo(rows: int) -> float:
    """Time `append_epochs` of `rows` records into a new run (one transaction)."""
    from descent_server.db.session import session_factory
    from descent_server.repository import history

    factory: Any = session_factory  # a callable returning a new session, as new_run wants
    records = make_records(rows)
    run_id, attempt = new_run(factory)
    began = time.perf_counter()
    with factory() as session:
        assert history.append_epochs(session, run_id, attempt, records)
        session.commit()
    return time.perf_counter() - began


def stored(run_id: str) -> int:
    """Return how many epoch rows the run has in the database."""
    from descent_server.db.session import session_scope
    from descent_server.repository import history

    with session_scope() as session:
        return history.count_epochs(session, run_id)


def measure(client: httpx.Client, epochs: int, views: list[int], runs: int) -> dict[str, Any]:
    """Ingest, fetch and view over HTTP and through the repository; return the figures."""
    out: dict[str, Any] = {"epochs": epochs, "views": {}}
    run_id, out["ingest"] = train(client, epochs)
    out["stored"] = stored(run_id)
    out["ingest_repo"] = store_repo(epochs + 1)
    out["fetch_rows"] = fetch_http(client, run_id)
    out["fetch"] = timed(lambda: fetch_http(client, run_id), runs)
    out["fetch_repo"] = timed(lambda: fetch_repo(run_id), runs)
    out["run_id"] = run_id
    for n in views:
        vid, took = (run_id, out["ingest"]) if n == epochs else train(client, n)
        full = out["fetch"] if n == epochs else timed(lambda: fetch_http(client, vid), 1)  # noqa: B023
        out["views"][n] = {
            "http": timed(lambda: view_http(client, vid), max(runs, 5)),  # noqa: B023
            "repo": timed(lambda: view_repo(vid), max(runs, 5)),  # noqa: B023
            "points": view_http(client, vid), "full": full, "train": took,
        }  # fmt: skip
    return out


def rows_of(r: dict[str, Any]) -> list[Row]:
    """Format the figures of `measure` as table rows."""
    n = r["epochs"]
    k = f"{n // 1000:,}k"
    ok = r["stored"] == n + 1 and r["fetch_rows"] == n + 1
    rows = [
        Row(f"H ingest {k} epochs over HTTP: POST → succeeded, {r['stored']:,} rows stored "
            "(baseline: repository append_epochs of as many rows)",
            fmt_time(r["ingest_repo"]), fmt_time(r["ingest"]),
            f"{r['ingest'] / r['ingest_repo']:.1f}× the repository",
            f"≤ {GOALS['ingest']:g} s", r["ingest"] <= GOALS["ingest"] and ok),
        Row(f"H full fetch {k} epochs over HTTP, every column, {PAGE:,}-row pages "
            "(baseline: repository JSON bytes, same pages)",
            fmt_time(r["fetch_repo"]), fmt_time(r["fetch"]),
            f"{r['fetch'] / r['fetch_repo']:.2f}× the repository",
            f"≤ {GOALS['fetch_ratio']:g}×",
            r["fetch"] <= GOALS["fetch_ratio"] * r["fetch_repo"] and ok),
    ]  # fmt: skip
    for epochs, v in sorted(r["views"].items()):
        rows.append(Row(
            f"H {VIEW:,}-point view of {epochs:,} epochs over HTTP ({v['points']} rows; "
            f"baseline: repository downsample; full fetch {fmt_time(v['full'])})",
            fmt_time(v["repo"]), fmt_time(v["http"]), f"{v['http'] / v['repo']:.2f}×",
            f"≤ {GOALS['view'] * 1e3:g} ms, < full fetch",
            v["http"] <= GOALS["view"] and v["http"] < v["full"],
        ))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the section; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100_000)
    parser.add_argument("--views", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with production_stack(NO_LIMITS) as stack:
        base = stack.api(workers=1)
        stack.worker(concurrency=1)
        with httpx.Client(base_url=base, timeout=120) as client:
            train(client, 10)  # warm the worker (imports, dataset cache)
            figures = measure(client, args.epochs, args.views, args.runs)
    for epochs, v in sorted(figures["views"].items()):
        print(f"# {epochs:,} epochs trained over HTTP in {fmt_time(v['train'])}")
    table = rows_of(figures)
    print_table(table)
    return 0 if all(r.passed is not False for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
