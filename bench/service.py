"""Benchmark the running service: P5 polling, P6 job latency/throughput, P7 plots, P8 memory.

Usage: python -m bench.service [P5] [P6] [P7] [P8] [backends]   (no names: every section)

Every section starts what it needs on a scratch PostgreSQL database (`descent_bench_<uuid8>`,
dropped after) and a reserved Redis database, with auth off: `descent-server api --workers 2`
and real prefork Celery workers. Prints work | baseline | ours | ratio | goal | pass.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BIN,
    Row,
    Stack,
    fmt_time,
    median_time,
    print_table,
    production_stack,
    quantile,
)

OWNER = "local"  # auth off: everything belongs to the local owner
MOVIES = {
    "kind": "linear_regression", "dataset_id": "builtin:movies",
    "features": ["num_want_to_see"], "target": "nums_audience",
    "hyperparameters": {"learning_rate": 2e-10, "epochs": 300},
}  # fmt: skip
BLOBS_MLP = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"], "target": "label", "hyperparameters": {"seed": 100},
}  # fmt: skip
WRK_SCRIPT = """
local tag = os.getenv("BENCH_IF_NONE_MATCH")
if tag ~= nil and tag ~= "" then wrk.headers["If-None-Match"] = tag end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, " ..
    "\\"errors\\": %d}\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def submit_and_train(request: dict[str, Any]) -> str:
    """Store a run through the submit service and train it here, as a worker would."""
    from descent_server.db.session import session_factory, session_scope
    from descent_server.services import runs
    from descent_server.services.training import run_training

    with session_scope() as session:
        run, _ = runs.submit(
            session=session, owner=OWNER, request=request, idempotency_key=None,
            enqueue=lambda *_: None,
        )  # fmt: skip
    run_training(session_factory=session_factory, run_id=run.id)
    return run.id


# --- P5: GET /v1/runs/{id} under 64 connections ------------------------------------------


def load(url: str, seconds: float, connections: int = 64, etag: str = "") -> dict[str, float]:
    """Hammer `url` for `seconds` (wrk if installed, else httpx); return req/s, p50, p99 (s)."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, etag)
    import asyncio

    return asyncio.run(_httpx_load(url, seconds, connections, etag))


def _wrk(url: str, seconds: float, connections: int, etag: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", script.name, url],
            env={**os.environ, "BENCH_IF_NONE_MATCH": etag},
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    stats = json.loads(next(line[4:] for line in out.splitlines() if line.startswith("WRK ")))
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} errors on {url}:\n{out}")
    return {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50": stats["p50_us"] / 1e6,
        "p99": stats["p99_us"] / 1e6,
    }


async def _httpx_load(url: str, seconds: float, connections: int, etag: str) -> dict[str, float]:
    """Fallback load generator (one Python process: it saturates before the server does)."""
    import asyncio

    latencies: list[float] = []
    headers = {"If-None-Match": etag} if etag else {}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                response = await client.get(url)
                if response.status_code >= 400:
                    raise RuntimeError(f"{url}: {response.status_code}")
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p50": quantile(latencies, 0.5),
            "p99": quantile(latencies, 0.99)}  # fmt: skip


def bench_polling(seconds: float = 8, repeats: int = 3) -> list[Row]:
    """P5: GET /v1/runs/{id} (200 and 304) vs /healthz, 64 connections, API with 2 workers."""
    with production_stack() as stack:
        run_id = submit_and_train(MOVIES)
        base = stack.api(workers=2)
        url = f"{base}/v1/runs/{run_id}"
        first = httpx.get(url)
        tag = first.headers["ETag"]
        assert first.status_code == 200 and first.json()["status"] == "succeeded", first.text
        assert httpx.get(url, headers={"If-None-Match": tag}).status_code == 304
        cases = {"healthz": (f"{base}/healthz", ""), "200": (url, ""), "304": (url, tag)}
        for target, etag in cases.values():
            load(target, 2, etag=etag)  # warm up every process, pool and cache
        results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        for _ in range(repeats):  # interleaved, so a noisy moment hits every case alike
            for name, (target, etag) in cases.items():
                results[name].append(load(target, seconds, etag=etag))
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")}
        for name, rs in results.items()
    }
    health, ok, cached = med["healthz"], med["200"], med["304"]
    tool = "wrk" if shutil.which("wrk") else "httpx"
    return [
        Row(f"P5 GET /v1/runs/{{id}} → 200, 64 conns ({tool}; baseline /healthz)",
            f"{health['rps']:,.0f} req/s", f"{ok['rps']:,.0f} req/s",
            f"{ok['rps'] / health['rps']:.2f}×", "≥ 1,500 req/s", ok["rps"] >= 1500),
        Row("P5 GET /v1/runs/{id} → 200: p99 latency (p50)",
            f"{fmt_time(health['p99'])} ({fmt_time(health['p50'])})",
            f"{fmt_time(ok['p99'])} ({fmt_time(ok['p50'])})", "", "≤ 50 ms", ok["p99"] <= 0.05),
        Row("P5 If-None-Match → 304, 64 conns (baseline: the 200)",
            f"{ok['rps']:,.0f} req/s", f"{cached['rps']:,.0f} req/s",
            f"{cached['rps'] / ok['rps']:.2f}×", "> 200's rate", cached["rps"] > ok["rps"]),
        Row("P5 If-None-Match → 304: p99 latency (p50)",
            f"{fmt_time(ok['p99'])} ({fmt_time(ok['p50'])})",
            f"{fmt_time(cached['p99'])} ({fmt_time(cached['p50'])})", "", "≤ 50 ms",
            cached["p99"] <= 0.05),
    ]  # fmt: skip


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "P5": bench_polling,
}


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (all when none), print the table; 1 if a goal is missed."""
    names = list(sys.argv[1:] if argv is None else argv) or list(SECTIONS)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    rows = [row for name in names for row in SECTIONS[name]()]
    print_table(rows)
    print(f"\n(load average {os.getloadavg()[0]:.1f})")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
