"""H: the history over HTTP on PostgreSQL, each figure against the repository's own.

Usage: python -m bench.http_history [--epochs 100000] [--views 10000 100000 1000000]

A real deployment (`descent-server api`, one prefork Celery worker, PostgreSQL, Redis; auth
off) on a scratch database. The regression is full-batch; a run of N epochs stores N + 1
rows (epoch 0 is the state before training). Baselines, in the same process and database:
- ingest: `repository.history.append_epochs` of the same number of rows in one call;
- full fetch: `read_history_json` page by page (10,000 rows, every column), no HTTP;
- 1,000-point view: `repository.history.downsample_json` (the bytes the route serves).
Ours: POST → succeeded (every epoch stored), GET /history in 10,000-row pages, and
GET /history?max_points=1000. The full fetch is timed twice: the bytes of every page
received (the baseline's work: JSON bytes; the cursor is read from the body's end), and
each page also parsed by the client, with orjson (the stdlib's json takes ~26 ms for a
2.4 MB page, more than the server spends on it; views are parsed with orjson too; section
M compares the parsed figure with MLflow's client). The API caches views by run version,
so views are timed twice: uncached (the first request after a change: each timed GET
follows an untimed PATCH of the run's notes, which moves its version) and repeated (the
same version again: the cache). Times are medians of --runs runs (views: at least 5;
ingest: one run).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
import orjson

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


def fetch_http(client: httpx.Client, run_id: str, parse: bool = True) -> int:
    """GET the whole history in PAGE-row pages (every column); return the row count.

    Without `parse` only the bytes are received; the cursor is read from the body's end
    (`"next_since_epoch": N}` is its last key).
    """
    since: int | None = None
    total = 0
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if since is not None:
            params["since_epoch"] = since
        page = client.get(f"/v1/runs/{run_id}/history", params=params)
        page.raise_for_status()
        if parse:
            body = orjson.loads(page.content)
            total += len(body["epochs"])
            since = body["next_since_epoch"]
        else:
            total += len(page.content)
            since = orjson.loads(page.content.rpartition(b":")[2][:-1])
        if since is None:
            return total


def view_http(client: httpx.Client, run_id: str) -> int:
    """GET the 1,000-point view; return its row count."""
    page = client.get(f"/v1/runs/{run_id}/history", params={"max_points": VIEW})
    page.raise_for_status()
    return len(orjson.loads(page.content)["epochs"])


def view_uncached(client: httpx.Client, run_id: str) -> float:
    """Time one view that no cache holds: an untimed edit moves the run's version first."""
    client.patch(f"/v1/runs/{run_id}", json={"notes": f"bench {time.time_ns()}"}).raise_for_status()
    began = time.perf_counter()
    view_http(client, run_id)
    return time.perf_counter() - began


def view_not_modified(client: httpx.Client, run_id: str) -> float:
    """Time a revalidation of the current view: If-None-Match with its ETag → 304."""
    url, params = f"/v1/runs/{run_id}/history", {"max_points": VIEW}
    tag = client.get(url, params=params).headers["ETag"]
    began = time.perf_counter()
    answer = client.get(url, params=params, headers={"If-None-Match": tag})
    took = time.perf_counter() - began
    assert answer.status_code == 304, answer.status_code
    return took


def median_of(sample: Callable[[], float], runs: int) -> float:
    """Return the median of `runs` samples that time themselves."""
    return statistics.median(sample() for _ in range(runs))


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
    """The repository's own 1,000-point view of the run, as the JSON bytes the route serves."""
    from descent_server.db.session import session_scope
    from descent_server.repository import history

    with session_scope() as session:
        return len(history.downsample_json(session, run_id, VIEW))


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
    """Ingest, fetch and view over HTTP and through the repository; return the figures.

    views[n]["http"] is the uncached view (what section M compares with MLflow's, which
    caches nothing); "repeat" the same view asked again, "first" the first view of the run.
    """
    out: dict[str, Any] = {"epochs": epochs, "views": {}}
    run_id, out["ingest"] = train(client, epochs)
    out["stored"] = stored(run_id)
    out["ingest_repo"] = store_repo(epochs + 1)
    first = {epochs: median_of(lambda: view_uncached(client, run_id), 1)}  # before any view
    out["fetch_rows"] = fetch_http(client, run_id)
    out["fetch"] = timed(lambda: fetch_http(client, run_id), runs)
    out["fetch_bytes"] = timed(lambda: fetch_http(client, run_id, parse=False), runs)
    out["fetch_repo"] = timed(lambda: fetch_repo(run_id), runs)
    out["run_id"] = run_id
    for n in views:
        vid, took = (run_id, out["ingest"]) if n == epochs else train(client, n)
        if n != epochs:
            first[n] = median_of(lambda: view_uncached(client, vid), 1)  # noqa: B023
        full = out["fetch"] if n == epochs else timed(lambda: fetch_http(client, vid), 1)  # noqa: B023
        samples = max(runs, 5)
        out["views"][n] = {
            "http": median_of(lambda: view_uncached(client, vid), samples),  # noqa: B023
            "repeat": timed(lambda: view_http(client, vid), samples),  # noqa: B023
            "not_modified": median_of(lambda: view_not_modified(client, vid), samples),  # noqa: B023
            "repo": timed(lambda: view_repo(vid), samples),  # noqa: B023
            "points": view_http(client, vid), "full": full, "train": took, "first": first[n],
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
        Row(f"H full fetch {k} epochs over HTTP, every column, {PAGE:,}-row pages, the bytes "
            "received (baseline: repository JSON bytes, same pages)",
            fmt_time(r["fetch_repo"]), fmt_time(r["fetch_bytes"]),
            f"{r['fetch_bytes'] / r['fetch_repo']:.2f}× the repository",
            f"≤ {GOALS['fetch_ratio']:g}×",
            r["fetch_bytes"] <= GOALS["fetch_ratio"] * r["fetch_repo"] and ok),
        Row("H same, each page parsed by the client (orjson; baseline: the bytes received)",
            fmt_time(r["fetch_bytes"]), fmt_time(r["fetch"]),
            f"{r['fetch'] / r['fetch_bytes']:.2f}×", "info", None),
    ]  # fmt: skip
    for epochs, v in sorted(r["views"].items()):
        rows.append(Row(
            f"H {VIEW:,}-point view of {epochs:,} epochs over HTTP, uncached ({v['points']} "
            f"rows; first request of the run {fmt_time(v['first'])}; baseline: repository "
            f"downsample_json; full fetch {fmt_time(v['full'])})",
            fmt_time(v["repo"]), fmt_time(v["http"]), f"{v['http'] / v['repo']:.2f}×",
            f"≤ {GOALS['view'] * 1e3:g} ms, < full fetch",
            v["http"] <= GOALS["view"] and v["http"] < v["full"],
        ))  # fmt: skip
        rows.append(Row(
            f"H same view asked again, unchanged run (view cache; baseline: uncached; "
            f"If-None-Match → 304: {fmt_time(v['not_modified'])})",
            fmt_time(v["http"]), fmt_time(v["repeat"]), f"{v['http'] / v['repeat']:.1f}×",
            "info", None,
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
            # Warm the worker (imports, dataset cache) and the API process (its first view
            # and page), so that a run's first request is the run's, not the process's.
            warm, _ = train(client, 2_000)
            view_http(client, warm)
            fetch_http(client, warm)
            figures = measure(client, args.epochs, args.views, args.runs)
    for epochs, v in sorted(figures["views"].items()):
        print(f"# {epochs:,} epochs trained over HTTP in {fmt_time(v['train'])}")
    table = rows_of(figures)
    print_table(table)
    return 0 if all(r.passed is not False for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
