"""P5: `GET /v1/runs/{id}` polled by 64 connections (wrk, else httpx), vs /healthz.

Usage: python -m bench.service P5 (or python -m bench P5)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time

import httpx

from bench.common import (
    Row,
    Stack,
    children,
    cpu_seconds,
    cpu_since,
    fmt_time,
    postgres_backends,
    production_stack,
    quantile,
    wrk_stats,
)
from bench.runs import MOVIES, submit_and_train

WRK_SCRIPT = """
local tag = os.getenv("BENCH_IF_NONE_MATCH")
if tag ~= nil and tag ~= "" then wrk.headers["If-None-Match"] = tag end
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause ~= nil and pause > 0 then delay = function() return pause end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d, " ..
    "\\"errors\\": %d}\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


OFFERED_RPS = 1500  # the goal's rate: each connection pauses so that 64 of them offer this


def load(
    url: str, seconds: float, connections: int = 64, etag: str = "", delay_ms: int = 0
) -> dict[str, float]:
    """Hammer `url` for `seconds` (wrk if installed, else httpx); return req/s, p50, p99 (s).

    `delay_ms` (wrk only): each connection waits that long between requests, to measure
    latency at a given offered rate instead of at saturation.
    """
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections, etag, delay_ms)
    import asyncio

    return asyncio.run(_httpx_load(url, seconds, connections, etag))


def _wrk(url: str, seconds: float, connections: int, etag: str, delay_ms: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s",
             "-s", script.name, url],
            env={**os.environ, "BENCH_IF_NONE_MATCH": etag, "BENCH_DELAY_MS": str(delay_ms)},
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    stats = wrk_stats(out)
    # errors: timeouts, resets and 4xx/5xx answers
    return {key: stats[key] for key in ("rps", "p50", "p99", "requests", "errors")}


async def _httpx_load(url: str, seconds: float, connections: int, etag: str) -> dict[str, float]:
    """Fallback load generator (one Python process: it saturates before the server does)."""
    import asyncio

    latencies: list[float] = []
    errors = 0
    headers = {"If-None-Match": etag} if etag else {}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                nonlocal errors
                try:
                    failed = (await client.get(url)).status_code >= 400
                except httpx.HTTPError:
                    failed = True
                errors += failed
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return {"rps": len(latencies) / elapsed, "p50": quantile(latencies, 0.5),
            "p99": quantile(latencies, 0.99), "requests": len(latencies),
            "errors": errors}  # fmt: skip


def measured_load(
    url: str, seconds: float, stack: Stack, api_pid: int, etag: str = "", delay_ms: int = 0
) -> dict[str, float]:
    """Run `load` and add the server CPU it cost per request (API processes + PG backends)."""
    api = [api_pid, *children(api_pid)]
    database = stack.env["DESCENT_DATABASE_URL"]
    app0, db0 = cpu_seconds(api), cpu_seconds(postgres_backends(database))
    stats = load(url, seconds, etag=etag, delay_ms=delay_ms)
    # Backends opened during the run (pool overflow) count if they are still alive.
    requests = max(1.0, stats["requests"])
    stats["app_cpu"] = cpu_since(app0, api) / requests
    stats["db_cpu"] = cpu_since(db0, postgres_backends(database)) / requests
    return stats


def bench_polling(seconds: float = 8, repeats: int = 3) -> list[Row]:
    """P5: GET /v1/runs/{id} (200 and 304) vs /healthz, 64 connections, API with 2 workers."""
    with production_stack() as stack:
        run_id = submit_and_train(MOVIES)
        base = stack.api(workers=2)
        api_pid = stack.procs[-1].pid
        url = f"{base}/v1/runs/{run_id}"
        first = httpx.get(url)
        tag = first.headers["ETag"]
        assert first.status_code == 200 and first.json()["status"] == "succeeded", first.text
        assert httpx.get(url, headers={"If-None-Match": tag}).status_code == 304
        cases = {"healthz": (f"{base}/healthz", ""), "200": (url, ""), "304": (url, tag)}
        for target, etag in cases.values():
            load(target, 2, etag=etag)  # warm up every process, pool and cache
        paced = 0
        if shutil.which("wrk"):  # the same, each connection pausing: OFFERED_RPS in all
            paced = round(64 * 1000 / OFFERED_RPS)
            cases |= {f"{name} paced": (t, e) for name, (t, e) in cases.items()}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        for _ in range(repeats):  # interleaved, so a noisy moment hits every case alike
            for name, (target, etag) in cases.items():
                delay = paced if name.endswith("paced") else 0
                results[name].append(measured_load(target, seconds, stack, api_pid, etag, delay))
    keys = ("rps", "p50", "p99", "app_cpu", "db_cpu")
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in results.items()
    }
    errors = {name: sum(int(r["errors"]) for r in rs) for name, rs in results.items()}
    health, ok, cached = med["healthz"], med["200"], med["304"]
    tool = "wrk" if shutil.which("wrk") else "httpx"

    def cpu(m: dict[str, float]) -> str:
        return f"{(m['app_cpu'] + m['db_cpu']) * 1e3:.2f} ms ({m['db_cpu'] * 1e3:.2f} PG)"

    def capacity(m: dict[str, float]) -> float:
        return 2 / (m["app_cpu"] + m["db_cpu"])  # requests/s that 2 whole cores could serve

    rows = [
        Row(f"P5 GET /v1/runs/{{id}} → 200, 64 conns ({tool}; baseline /healthz)",
            f"{health['rps']:,.0f} req/s", f"{ok['rps']:,.0f} req/s",
            f"{ok['rps'] / health['rps']:.2f}×", "≥ 1,500 req/s",
            ok["rps"] >= 1500 and not errors["200"]),
        Row("P5 GET → 200: p99 latency (p50)",
            f"{fmt_time(health['p99'])} ({fmt_time(health['p50'])})",
            f"{fmt_time(ok['p99'])} ({fmt_time(ok['p50'])})", "", "≤ 50 ms", ok["p99"] <= 0.05),
        Row("P5 If-None-Match → 304, 64 conns (baseline: the 200)",
            f"{ok['rps']:,.0f} req/s", f"{cached['rps']:,.0f} req/s",
            f"{cached['rps'] / ok['rps']:.2f}×", "> 200's rate",
            cached["rps"] > ok["rps"] and not errors["304"]),
        Row("P5 GET → 304: p99 latency (p50)",
            f"{fmt_time(ok['p99'])} ({fmt_time(ok['p50'])})",
            f"{fmt_time(cached['p99'])} ({fmt_time(cached['p50'])})", "", "≤ 50 ms",
            cached["p99"] <= 0.05),
        Row("P5 server CPU per request, 200 (baseline /healthz; API + PG)", cpu(health),
            cpu(ok), f"{capacity(ok):,.0f} req/s on 2 idle cores", "info", None),
        Row("P5 server CPU per request, 304 (baseline: the 200)", cpu(ok), cpu(cached),
            f"{capacity(cached):,.0f} req/s on 2 idle cores", "info", None),
        Row("P5 failed requests (timeouts, 5xx) healthz / 200 / 304", "",
            f"{errors['healthz']} / {errors['200']} / {errors['304']}", "", "0",
            not any(errors.values())),
    ]  # fmt: skip
    if paced:
        h, o, c = med["healthz paced"], med["200 paced"], med["304 paced"]
        rows += [
            Row(f"P5 GET → 200 at {OFFERED_RPS:,} req/s offered: p99 (p50) (baseline /healthz)",
                f"{fmt_time(h['p99'])} ({fmt_time(h['p50'])})",
                f"{fmt_time(o['p99'])} ({fmt_time(o['p50'])})", f"{o['rps']:,.0f} req/s served",
                "≤ 50 ms", o["p99"] <= 0.05 and not errors["200 paced"]),
            Row(f"P5 GET → 304 at {OFFERED_RPS:,} req/s offered: p99 (p50) (baseline: the 200)",
                f"{fmt_time(o['p99'])} ({fmt_time(o['p50'])})",
                f"{fmt_time(c['p99'])} ({fmt_time(c['p50'])})", f"{c['rps']:,.0f} req/s served",
                "≤ 50 ms", c["p99"] <= 0.05 and not errors["304 paced"]),
        ]  # fmt: skip
    return rows
