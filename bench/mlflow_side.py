"""M: the same history in MLflow and in descent, side by side on the same PostgreSQL.

Usage: python -m bench.mlflow_side [--epochs 100000] [--runs 3]

Needs the `bench` extra (`pip install -e '.[bench]'`: mlflow). Starts `mlflow server` on a
database of its own (`descent_bench_mlflow_<uuid8>`, dropped afterwards; artifacts in a
temporary folder) and descent's own stack (`bench.http_history`), both on this machine.
The rows are the regression's: per epoch the loss and the parameters a and b.
- ingest: MLflow `MlflowClient.log_batch` with 333 steps × 3 metrics a call (999: the most a
  batch may hold is 1,000) vs descent POST → succeeded (training included);
- full fetch: MLflow `get_metric_history` per metric (REST, paged by the client) vs descent
  GET /history in 10,000-row pages, every column;
- 1,000-point view: MLflow `get-history-bulk-interval` (loss, max_results=1000) vs descent
  GET /history?max_points=1000 (every column).
Ratios are MLflow / descent: how many times faster descent is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import (
    BIN,
    PG,
    Row,
    fmt_time,
    free_port,
    median_time,
    print_table,
    production_stack,
    wait_http,
)
from bench.history_store import make_records
from bench.http_history import measure, train
from bench.runs import NO_LIMITS

STEPS_PER_CALL = 333  # × 3 metrics = 999 ≤ MLflow's 1,000 metrics per log_batch
GOALS = {"ingest": 50.0, "fetch": 20.0, "view": 10.0}  # × MLflow (issue 17)


@contextlib.contextmanager
def mlflow_server() -> Iterator[str]:
    """Yield the base URL of an `mlflow server` on a scratch PostgreSQL database."""
    name = f"descent_bench_mlflow_{uuid.uuid4().hex[:8]}"
    admin = f"postgresql://{PG}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
            yield from _serve(f"postgresql+psycopg://{PG}/{name}", Path(tmp))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def _serve(url: str, tmp: Path) -> Iterator[str]:
    """Run `mlflow server` (one worker) on `url`; yield its base URL; stop it afterwards."""
    port = free_port()
    log = tmp / "mlflow.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", url,
             "--default-artifact-root", str(tmp / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", proc, log, timeout_s=180)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def mlflow_figures(base: str, epochs: int, runs: int) -> dict[str, Any]:
    """Log the regression's rows to MLflow, fetch them back, and take its interval view."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=base)
    experiment = client.create_experiment(f"bench-{time.time_ns()}")
    run_id = client.create_run(experiment).info.run_id
    records = make_records(epochs + 1)
    now = int(time.time() * 1000)
    began = time.perf_counter()
    for start in range(0, len(records), STEPS_PER_CALL):
        metrics = [
            Metric(key, float("nan") if value is None else value, now, r.epoch)
            for r in records[start : start + STEPS_PER_CALL]
            for key, value in (("loss", r.loss), ("a", r.params["a"]), ("b", r.params["b"]))
        ]
        client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id)
    ingest = time.perf_counter() - began

    def fetch() -> int:
        return sum(len(client.get_metric_history(run_id, key)) for key in ("loss", "a", "b"))

    http = httpx.Client(base_url=base, timeout=120)

    def view() -> int:
        got = http.get(
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            params={"run_ids": run_id, "metric_key": "loss", "max_results": 1000},
        )
        got.raise_for_status()
        return len(got.json()["metrics"])

    with http:
        return {
            "ingest": ingest, "fetched": fetch(), "fetch": median_time(fetch, runs),
            "view": median_time(view, max(runs, 5)), "points": view(),
        }  # fmt: skip


def rows_of(ml: dict[str, Any], ours: dict[str, Any]) -> list[Row]:
    """The side-by-side rows: MLflow as the baseline, descent as ours."""
    n = ours["epochs"]
    view = ours["views"][n]
    ratios = {
        "ingest": ml["ingest"] / ours["ingest"], "fetch": ml["fetch"] / ours["fetch"],
        "view": ml["view"] / view["http"],
    }  # fmt: skip
    k = f"{n // 1000:,}k"
    return [
        Row(f"M ingest {k} epochs × loss, a, b (MLflow log_batch {STEPS_PER_CALL} steps a call"
            " vs descent POST → succeeded, training included)",
            fmt_time(ml["ingest"]), fmt_time(ours["ingest"]), f"{ratios['ingest']:.0f}×",
            f"≥ {GOALS['ingest']:g}×", ratios["ingest"] >= GOALS["ingest"]),
        Row(f"M full fetch {k} epochs (MLflow get_metric_history × 3 metrics, "
            f"{ml['fetched']:,} values vs descent every column, {ours['fetch_rows']:,} rows)",
            fmt_time(ml["fetch"]), fmt_time(ours["fetch"]), f"{ratios['fetch']:.0f}×",
            f"≥ {GOALS['fetch']:g}×", ratios["fetch"] >= GOALS["fetch"]),
        Row(f"M 1,000-point view of {k} epochs (MLflow get-history-bulk-interval, loss only, "
            f"{ml['points']} points vs descent max_points, {view['points']} rows)",
            fmt_time(ml["view"]), fmt_time(view["http"]), f"{ratios['view']:.0f}×",
            f"≥ {GOALS['view']:g}×", ratios["view"] >= GOALS["view"]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the section; exit 1 if a goal is missed, 2 if MLflow is not installed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        print("mlflow is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    with mlflow_server() as base:
        ml = mlflow_figures(base, args.epochs, args.runs)
    with production_stack(NO_LIMITS) as stack:
        api = stack.api(workers=1)
        stack.worker(concurrency=1)
        with httpx.Client(base_url=api, timeout=120) as client:
            train(client, 10)  # warm the worker (imports, dataset cache), as MLflow's server is
            ours = measure(client, args.epochs, [args.epochs], args.runs)
    table = rows_of(ml, ours)
    print_table(table)
    return 0 if all(r.passed is not False for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
