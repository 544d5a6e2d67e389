"""L: polling while training (issue 17): 200 pollers on a run that trains beside 7 others.

Usage: python -m bench.mixed_load (or python -m bench L)

One scratch stack (bench.common.production_stack): `descent-server api --workers 2` and one
prefork Celery worker with `-c 8`, so eight runs really train at once on the 2 cores (four
small MLPs and four long course regressions). 200 pollers (wrk, one connection per thread
so that each keeps its own ETag) poll one of the MLPs as a frontend would: If-None-Match
with the last ETag each saw, then a 500 ms pause. The worker writes history every second,
so the pollers get both 200s and 304s. Baseline for the latency: the same pollers on
/healthz during the same training. The server CPU per request (API processes + PostgreSQL
backends) of a 200 and a 304 is measured before the worker starts, on a finished run, so
that training does not count (baseline: /healthz, as P5 does). The worker runs as shipped:
it lowers its CPU priority by DESCENT_WORKER_NICE (10), its session's too (it leads one).
Last, an info row: the same pollers once the worker is put back at the API's weight (nice 0,
as before that setting; needs root to raise a priority, else the row is left out).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Row,
    Stack,
    children,
    cpu_seconds,
    cpu_since,
    fmt_time,
    postgres_backends,
    print_table,
    production_stack,
    quantile,
    wrk_stats,
)
from bench.runs import FINAL, MOVIES, NO_LIMITS, submit, submit_and_train

POLLERS = 200
PAUSE_MS = 500  # each poller's pause between answers
MIXED_S = 15  # each measured phase while training
QUIET_S = 4  # each CPU phase before training
P99_GOAL_S = 0.25
TIMEOUT_S = 2  # a poll not answered by then counts as an error (wrk --timeout)
# The worker writes history every second (default 0.2 s): pollers pausing 500 ms meet each
# version of the polled run about twice, so they get 200s and 304s.
ENV = {**NO_LIMITS, "DESCENT_HISTORY_FLUSH_S": "1"}

BLOBS = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"], "target": "label",
    "hyperparameters": {"epochs": 2000, "snapshots": {"every": 1, "resolution": 50}},
}  # fmt: skip
SINE_MLP = {  # the polled run: its epochs are short, so a new version every flush
    "kind": "mlp_regressor", "dataset_id": "builtin:sine", "features": ["x"], "target": "y",
    "hyperparameters": {"epochs": 5000, "hidden_layers": [32, 32], "batch_size": 16},
}  # fmt: skip
LONG_REGRESSION = {**MOVIES, "hyperparameters": {"learning_rate": 2e-10, "epochs": 1_000_000}}
TRAINING = [SINE_MLP, SINE_MLP, BLOBS, BLOBS] + [LONG_REGRESSION] * 4

# One connection per wrk thread (-t = -c): a thread's Lua globals are that connection's own.
# BENCH_TAG_MODE: "follow" sends the last ETag this connection saw, "none" never sends one,
# "fixed" always sends BENCH_TAG. The first pause is spread over the pause, as independent
# pollers are.
WRK_SCRIPT = """
local mode = os.getenv("BENCH_TAG_MODE")
local pause = tonumber(os.getenv("BENCH_DELAY_MS"))
local conns = tonumber(os.getenv("BENCH_CONNECTIONS"))
local tag = os.getenv("BENCH_TAG")
if mode ~= "fixed" then tag = nil end
local first = true
n200, n304, nother, id = 0, 0, 0, 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function request()
  wrk.headers["If-None-Match"] = tag
  return wrk.format()
end
function response(status, headers, body)
  if status == 200 then
    n200 = n200 + 1
    if mode == "follow" then tag = headers["etag"] or headers["ETag"] end
  elseif status == 304 then n304 = n304 + 1
  else nother = nother + 1 end
end
function delay()
  if first then first = false; return math.floor(id * pause / conns) end
  return pause
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n200"); b = b + t:get("n304"); c = c + t:get("nother")
  end
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, " ..
    "\\"socket_errors\\": %d, \\"n200\\": %d, \\"n304\\": %d, \\"other\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, a, b, c))
end
"""


def poll(url: str, seconds: float, mode: str, tag: str = "") -> dict[str, float]:
    """Run POLLERS pollers on `url` for `seconds`; return rps, p50, p99 (s) and the counts."""
    if shutil.which("wrk"):
        stats = _wrk(url, seconds, mode, tag)
    else:
        stats = asyncio.run(_httpx_poll(url, seconds, mode, tag))
    stats["errors"] = stats["socket_errors"] + stats["other"]
    return stats


def _wrk(url: str, seconds: float, mode: str, tag: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    env = {
        **os.environ, "BENCH_TAG_MODE": mode, "BENCH_TAG": tag,
        "BENCH_DELAY_MS": str(PAUSE_MS), "BENCH_CONNECTIONS": str(POLLERS),
    }  # fmt: skip
    try:
        out = subprocess.run(
            ["wrk", f"-t{POLLERS}", f"-c{POLLERS}", f"-d{round(seconds)}s",
             f"--timeout={TIMEOUT_S}s", "-s", script.name, url],
            env=env, capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    stats = wrk_stats(out)
    return {
        key: stats[key]
        for key in ("rps", "p50", "p99", "requests", "socket_errors", "n200", "n304", "other")
    }


async def _httpx_poll(url: str, seconds: float, mode: str, tag: str) -> dict[str, float]:
    """Fallback pollers in this process (it saturates long before the server does)."""
    latencies: list[float] = []
    counts = {"n200": 0, "n304": 0, "other": 0, "socket_errors": 0}
    limits = httpx.Limits(max_connections=POLLERS)
    async with httpx.AsyncClient(limits=limits, timeout=TIMEOUT_S) as client:
        stop = time.perf_counter() + seconds

        async def poller(i: int) -> None:
            seen = tag if mode == "fixed" else ""
            await asyncio.sleep(i * PAUSE_MS / POLLERS / 1000)
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    answer = await client.get(url, headers={"If-None-Match": seen} if seen else {})
                except httpx.HTTPError:
                    counts["socket_errors"] += 1
                else:
                    key = {200: "n200", 304: "n304"}.get(answer.status_code, "other")
                    counts[key] += 1
                    if answer.status_code == 200 and mode == "follow":
                        seen = answer.headers["ETag"]
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(PAUSE_MS / 1000)

        began = time.perf_counter()
        await asyncio.gather(*(poller(i) for i in range(POLLERS)))
        elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p50": quantile(latencies, 0.5),
            "p99": quantile(latencies, 0.99), "requests": len(latencies), **counts}  # fmt: skip


def cpu_per_request(
    stack: Stack, api_pid: int, url: str, mode: str, tag: str = ""
) -> tuple[float, float]:
    """Poll `url` for QUIET_S; return the CPU seconds per request of the API and PostgreSQL."""
    api = [api_pid, *children(api_pid)]
    database = stack.env["DESCENT_DATABASE_URL"]
    app0, db0 = cpu_seconds(api), cpu_seconds(postgres_backends(database))
    stats = poll(url, QUIET_S, mode, tag)
    assert stats["errors"] == 0, stats
    requests = max(1.0, stats["requests"])
    return cpu_since(app0, api) / requests, cpu_since(db0, postgres_backends(database)) / requests


def progress(run_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Return each run's (status, progress_epoch), read from the database."""
    from sqlalchemy import select

    from descent_server.db.models import Run
    from descent_server.db.session import session_scope

    query = select(Run.id, Run.status, Run.progress_epoch).where(Run.id.in_(run_ids))
    with session_scope() as session:
        return {r.id: (r.status, r.progress_epoch) for r in session.execute(query)}


def wait_training(run_ids: list[str], timeout_s: float = 120) -> None:
    """Wait until every run is running and has stored an epoch (raise if one ended)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = progress(run_ids)
        ended = {i: s for i, (s, _) in found.items() if s in FINAL}
        if ended:
            raise RuntimeError(f"runs ended before the measurement: {ended}")
        if all(s == "running" and epoch >= 1 for s, epoch in found.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all training after {timeout_s} s: {found}")
        time.sleep(0.5)


def same_weight(pid: int) -> bool:
    """Put a worker (its session and process group) back at nice 0; True if it took.

    With autogroups (one scheduling group per session) the session's nice weighs it against
    the API; inside the session, each process's own nice. Raising a priority needs root.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text("0")
        os.setpriority(os.PRIO_PGRP, pid, 0)  # the pool children are in its group
    except OSError:
        return False
    return True


def measure() -> dict[str, Any]:
    """Run the whole scenario on one stack; return every measured figure."""
    with production_stack(ENV) as stack:
        finished = submit_and_train(MOVIES)
        base = stack.api(workers=2)
        api_pid = stack.procs[-1].pid
        health, done_url = f"{base}/healthz", f"{base}/v1/runs/{finished}"
        tag = httpx.get(done_url).headers["ETag"]
        for url, mode in ((health, "none"), (done_url, "none"), (done_url, "fixed")):
            poll(url, 1, mode, tag)  # warm every process, pool and import
        cpu = {
            "healthz": cpu_per_request(stack, api_pid, health, "none"),
            "200": cpu_per_request(stack, api_pid, done_url, "none"),
            "304": cpu_per_request(stack, api_pid, done_url, "fixed", tag),
        }
        worker = stack.worker(concurrency=len(TRAINING))
        with httpx.Client(base_url=base, timeout=30) as client:
            ids = [submit(client, request) for request in TRAINING]
        wait_training(ids)
        polled = f"{base}/v1/runs/{ids[0]}"
        floor = poll(health, MIXED_S / 2, "none")
        before = progress(ids)
        groups = {
            "API": [api_pid, *children(api_pid)],
            "training": [worker.pid, *children(worker.pid)],
        }
        database = stack.env["DESCENT_DATABASE_URL"]
        used0 = {name: cpu_seconds(pids) for name, pids in groups.items()}
        db0, began = cpu_seconds(postgres_backends(database)), time.perf_counter()
        mixed = poll(polled, MIXED_S, "follow")
        cores = (os.cpu_count() or 1) * (time.perf_counter() - began)
        mixed["shares"] = [cpu_since(used0[name], pids) / cores for name, pids in groups.items()]
        mixed["shares"].append(cpu_since(db0, postgres_backends(database)) / cores)
        mixed["app_cpu"] = cpu_since(used0["API"], groups["API"]) / max(1.0, mixed["requests"])
        after = progress(ids)
        equal = poll(polled, MIXED_S, "follow") if same_weight(worker.pid) else None
    trained = sum(after[i][0] == "running" and after[i][1] > before[i][1] for i in ids)
    return {"cpu": cpu, "floor": floor, "mixed": mixed, "trained": trained, "equal": equal}


def bench_mixed() -> list[Row]:
    """L: 200 pollers on a training run, 8 runs training; CPU per 200 and per 304."""
    found = measure()
    cpu, floor, mixed = found["cpu"], found["floor"], found["mixed"]
    tool = "wrk" if shutil.which("wrk") else "httpx"
    offered = POLLERS * 1000 / PAUSE_MS
    share = mixed["n304"] / max(1.0, mixed["n200"] + mixed["n304"])

    def ms(parts: tuple[float, float]) -> str:
        return f"{sum(parts) * 1e3:.2f} ms ({parts[1] * 1e3:.2f} PG)"

    def total(name: str) -> float:
        return sum(cpu[name])

    rows = [
        Row(f"L {POLLERS} pollers ({tool}, If-None-Match, {PAUSE_MS} ms pause) on a training "
            f"run, {len(TRAINING)} runs training (baseline: offered)",
            f"{offered:,.0f} req/s", f"{mixed['rps']:,.0f} req/s",
            f"{mixed['rps'] / offered:.2f}×", "info", None),
        Row("L p99 latency (p50) while training (baseline: the same pollers on /healthz)",
            f"{fmt_time(floor['p99'])} ({fmt_time(floor['p50'])})",
            f"{fmt_time(mixed['p99'])} ({fmt_time(mixed['p50'])})", "",
            f"≤ {P99_GOAL_S * 1e3:.0f} ms", mixed["p99"] <= P99_GOAL_S),
        Row(f"L errors: other statuses / socket errors and {TIMEOUT_S} s timeouts "
            "(baseline: /healthz)", f"{floor['errors']:.0f}",
            f"{mixed['other']:.0f} / {mixed['socket_errors']:.0f}", "", "0",
            mixed["errors"] == 0),
        Row("L answers: 200s / 304s", "", f"{mixed['n200']:,.0f} / {mixed['n304']:,.0f}",
            f"{share:.0%} 304", "info", None),
        Row("L runs that trained through the whole measurement", "",
            f"{found['trained']}/{len(TRAINING)}", "", f"{len(TRAINING)}",
            found["trained"] == len(TRAINING)),
        Row("L where the cores went while polling: API / training / PostgreSQL", "",
            " / ".join(f"{share:.0%}" for share in mixed["shares"]), "", "info", None),
        Row("L API CPU per poll while training (baseline: per 200, nothing training)",
            f"{cpu['200'][0] * 1e3:.2f} ms", f"{mixed['app_cpu'] * 1e3:.2f} ms", "", "info",
            None),
        Row(f"L server CPU per request, 200, {POLLERS} pollers (baseline /healthz; API + PG)",
            ms(cpu["healthz"]), ms(cpu["200"]), f"{total('200') / total('healthz'):.2f}×",
            "info", None),
        Row("L server CPU per request, 304 (baseline: the 200)", ms(cpu["200"]),
            ms(cpu["304"]), f"{total('200') / total('304'):.2f}× cheaper", "< the 200's",
            total("304") < total("200")),
    ]  # fmt: skip
    equal = found["equal"]
    if equal is not None:  # what DESCENT_WORKER_NICE=0 (training at the API's weight) gets
        rows.append(
            Row("L same, training at the API's CPU weight (worker nice 0): p99 (p50); errors; "
                "200s / 304s (baseline: the worker's default nice 10)",
                f"{fmt_time(mixed['p99'])} ({fmt_time(mixed['p50'])})",
                f"{fmt_time(equal['p99'])} ({fmt_time(equal['p50'])}); "
                f"{equal['errors']:.0f}; {equal['n200']:,.0f} / {equal['n304']:,.0f}",
                f"{equal['rps']:,.0f} req/s", "info", None))  # fmt: skip
    return rows


def main() -> int:
    """Run section L and print its table; 1 if a goal is missed."""
    # A SIGTERM (from `python -m bench` on a timeout) unwinds: servers stop, databases drop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    rows = bench_mixed()
    print_table(rows)
    print(f"\n(load average {os.getloadavg()[0]:.1f}; took {time.perf_counter() - began:.0f} s)")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
