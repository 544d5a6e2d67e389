"""Benchmark the running service: P5 polling, P6 job latency/throughput, P7 plots, P8 memory.

Usage: python -m bench.service [P5] [P6] [P7] [P8]   (no names: every section)

Every section starts what it needs on a scratch PostgreSQL database (`descent_bench_<uuid8>`,
dropped after) and a reserved Redis database, with auth off: `descent-server api --workers 2`
and real prefork Celery workers. Prints work | baseline | ours | ratio | goal | pass.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import (
    PG,
    Row,
    children,
    fmt_time,
    median_time,
    pick_sections,
    print_table,
    production_stack,
    quantile,
    rss_mb,
)
from bench.polling import bench_polling
from bench.runs import (
    BLOBS_MLP,
    FINAL,
    MOVIES,
    NO_LIMITS,
    SMALL_MLP,
    run_times,
    submit,
    submit_and_train,
    wait_final,
)

# --- P6: submit → succeeded, warm workers ----------------------------------------------


def async_commits(database_url: str) -> None:
    """Make every new connection to the database commit without waiting for the WAL flush."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')  # type: ignore[arg-type]


def jobs(sequential: int, burst: int, clients: int, fast_commit: bool) -> dict[str, Any]:
    """Run the P6 load on a fresh stack; return latencies, breakdown and burst figures."""
    from concurrent.futures import ThreadPoolExecutor

    with production_stack(NO_LIMITS) as stack:
        if fast_commit:
            async_commits(stack.env["DESCENT_DATABASE_URL"])
        # The floor: the same submit + training called in this process (no HTTP, no broker).
        floor = median_time(lambda: submit_and_train(MOVIES), runs=20)
        base = stack.api(workers=2)
        stack.worker(concurrency=2)
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(5):  # warm: every pool child, connection and import
                wait_final(client, submit(client, MOVIES))
            posted, ids = [], []
            for _ in range(sequential):
                start, wall = time.perf_counter(), time.time()
                ids.append(submit(client, MOVIES))
                posted.append((wall, time.perf_counter() - start))
                assert wait_final(client, ids[-1])["status"] == "succeeded"
            seq = run_times(ids)

        def one_client(n: int) -> list[str]:
            with httpx.Client(base_url=base, timeout=30) as c:
                return [submit(c, MOVIES) for _ in range(n)]

        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            burst_ids = [i for part in pool.map(one_client, [burst // clients] * clients)
                         for i in part]  # fmt: skip
        submitted = time.perf_counter() - began
        deadline = time.monotonic() + 600
        while True:
            rows = run_times(burst_ids)
            if all(r["status"] in FINAL for r in rows):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the burst did not finish in 10 minutes")
            time.sleep(0.2)
    span = max(r["finished"] for r in rows) - min(r["created"] for r in rows)
    return {
        # Latency from the moment the client sent the POST to the commit of the final status.
        "latency": [r["finished"] - wall for r, (wall, _) in zip(seq, posted, strict=True)],
        "post": [t for _, t in posted],
        "queue": [r["started"] - r["created"] for r in seq],
        "work": [r["finished"] - r["started"] for r in seq],
        "rate": len(rows) / span,
        "ok": sum(r["status"] == "succeeded" for r in rows),
        "n": len(rows),
        "submitted": submitted,
        "floor": floor,
    }


def bench_jobs(sequential: int = 40, burst: int = 200, clients: int = 8) -> list[Row]:
    """P6: course regression, submit → succeeded: p50 latency, and jobs/s for a burst."""
    ours = jobs(sequential, burst, clients, fast_commit=False)
    fast = jobs(sequential, burst, clients, fast_commit=True)
    med = statistics.median

    def parts(r: dict[str, Any]) -> str:
        return " / ".join(fmt_time(med(r[k])) for k in ("post", "queue", "work"))

    return [
        Row(f"P6 submit → succeeded, course regression, p50 of {sequential} (warm, -c 2; "
            "baseline: submit + train in-process)",
            fmt_time(ours["floor"]), fmt_time(med(ours["latency"])),
            f"p90 {fmt_time(quantile(ours['latency'], 0.9))}",
            "≤ 150 ms", med(ours["latency"]) <= 0.15),
        Row("P6 where it goes (p50): POST / queued→claimed / claimed→finished", "", parts(ours),
            "", "info", None),
        Row(f"P6 throughput: {ours['n']} jobs from {clients} clients, worker -c 2",
            f"submitted in {fmt_time(ours['submitted'])}", f"{ours['rate']:.1f} jobs/s",
            f"{ours['ok']}/{ours['n']} succeeded", "≥ 20 jobs/s",
            ours["rate"] >= 20 and ours["ok"] == ours["n"]),
        Row("P6 in-process submit + train, synchronous_commit=off (baseline: on)",
            fmt_time(ours["floor"]), fmt_time(fast["floor"]),
            f"{ours['floor'] / fast['floor']:.2f}×", "info", None),
        Row("P6 same, PostgreSQL synchronous_commit=off: p50 latency (baseline: on)",
            fmt_time(med(ours["latency"])), fmt_time(med(fast["latency"])),
            f"{med(ours['latency']) / med(fast['latency']):.2f}×", "info", None),
        Row("P6 same, synchronous_commit=off: where it goes", "", parts(fast), "", "info", None),
        Row("P6 same, synchronous_commit=off: throughput (baseline: on)",
            f"{ours['rate']:.1f} jobs/s", f"{fast['rate']:.1f} jobs/s",
            f"{fast['rate'] / ours['rate']:.2f}×", "info", None),
    ]  # fmt: skip


# --- P7: PNG plots polled by a frontend ------------------------------------------------


def render_alone(run_id: str) -> dict[str, Callable[[], bytes]]:
    """Return the bare ml.plots renders of the run's boundary and loss plots (data preloaded)."""
    import numpy as np

    from descent_server.db.models import Run
    from descent_server.db.session import session_scope
    from descent_server.ml.plots import boundary_plot, loss_plot
    from descent_server.repository import history as repo
    from descent_server.services import history
    from descent_server.services.kinds import load_training_data

    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        grid = history.snapshot_grid(session, run, run.progress_epoch)
        data = load_training_data(session=session, run=run)
        rows = repo.downsample(session, run_id, 4000)
        extent, classes = run.analysis["extent"], run.analysis["classes"]  # type: ignore[index]
    epochs = [r["epoch"] for r in rows]
    loss = np.array([r["loss"] for r in rows], dtype=float)
    val = np.array([np.nan if r["val_loss"] is None else r["val_loss"] for r in rows])
    return {
        "boundary": lambda: boundary_plot(grid, extent, classes, data.X, data.y, len(rows) - 1),
        "loss": lambda: loss_plot(epochs, loss, val),
    }


def bench_plots(samples: int = 15) -> list[Row]:
    """P7: boundary and loss PNGs over HTTP: first render, cached repeat, 304; vs render alone."""
    rows: list[Row] = []
    with production_stack() as stack:
        run_id = submit_and_train(BLOBS_MLP)
        alone = render_alone(run_id)
        base = stack.api(workers=2)
        with httpx.Client(base_url=base, timeout=60) as client:

            def get(name: str, width: int = 800, tag: str = "") -> tuple[float, httpx.Response]:
                start = time.perf_counter()
                response = client.get(
                    f"/v1/runs/{run_id}/plots/{name}.png",
                    params={"width": width},
                    headers={"If-None-Match": tag} if tag else {},
                )
                elapsed = time.perf_counter() - start
                assert response.status_code in (200, 304), response.text
                return elapsed, response

            for name in ("boundary", "loss"):
                for i in range(6):  # both API processes: matplotlib imported, fonts cached
                    get(name, width=700 + i)
                baseline = median_time(alone[name], runs=samples)
                # A new width is a new picture: every sample is a first render somewhere.
                first = [get(name, width=801 + i)[0] for i in range(samples)]
                _, response = get(name)
                tag = response.headers["ETag"]
                repeat = [get(name)[0] for _ in range(samples * 2)]  # both processes cached
                unchanged = [get(name, tag=tag)[0] for _ in range(samples * 2)]
                med_first, med_repeat = statistics.median(first), statistics.median(repeat)
                rows += [
                    Row(f"P7 {name}.png first render over HTTP (baseline: ml.plots alone)",
                        fmt_time(baseline), fmt_time(med_first), f"{med_first / baseline:.2f}×",
                        "≤ 150 ms", med_first <= 0.15),
                    Row(f"P7 {name}.png repeated request (cached; baseline: first render)",
                        fmt_time(med_first), fmt_time(med_repeat),
                        f"{med_first / med_repeat:,.0f}×", "≤ 5 ms", med_repeat <= 0.005),
                    Row(f"P7 {name}.png poll with If-None-Match → 304 (baseline: cached 200)",
                        fmt_time(med_repeat), fmt_time(statistics.median(unchanged)),
                        f"{med_repeat / statistics.median(unchanged):.2f}×", "≤ 5 ms",
                        statistics.median(unchanged) <= 0.005),
                ]  # fmt: skip
    return rows


# --- P8: worker memory over many MLP runs ----------------------------------------------


def live_rss(pids: list[int]) -> list[float]:
    """Return the RSS (MiB) of those of `pids` still alive: a recycled child may be gone."""
    found = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            found.append(rss_mb(pid))
    return found


def memory_trace(
    runs: int, backend: str = "tensorflow", recycle_after: int | None = None
) -> tuple[list[float], float]:
    """Return the worker child's RSS (MiB) after each of `runs` small MLP runs, and s/run.

    Without `recycle_after` one child does every run (no recycling), so a leak cannot hide.
    """
    per_child = recycle_after or runs + 10
    env = {"DESCENT_WORKER_MAX_TASKS_PER_CHILD": str(per_child), "DESCENT_KERAS_BACKEND": backend}
    rss: list[float] = []
    with production_stack(env) as stack:
        base = stack.api(workers=1)
        worker = stack.worker(concurrency=1)
        first = children(worker.pid)
        began = time.perf_counter()
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(runs):
                run = wait_final(client, submit(client, SMALL_MLP), poll_s=0.05)
                assert run["status"] == "succeeded" and run["backend"] == backend, run
                now = children(worker.pid)
                assert recycle_after or now == first, "the pool child was replaced"
                sizes = live_rss(now) or live_rss(children(worker.pid))  # one was recycled
                rss.append(max(sizes, default=rss[-1] if rss else 0.0))
        return rss, (time.perf_counter() - began) / runs


def bench_memory(runs: int = int(os.environ.get("BENCH_P8_RUNS", "200")), warm_up: int = 20,
                 jax_runs: int = 50) -> list[Row]:  # fmt: skip
    """P8: RSS of one worker child after each of `runs` consecutive small MLP runs."""
    rss, per_run = memory_trace(runs)
    settled = rss[warm_up - 1]
    growth = rss[-1] / settled - 1
    peak = max(rss[warm_up:])
    recycled, _ = memory_trace(runs, recycle_after=50)  # the production default
    jax, jax_per_run = memory_trace(min(jax_runs, runs), "jax")
    n = len(jax)
    return [
        Row(f"P8 worker child RSS over {runs} MLP runs (2 epochs, 16-16, snapshots; "
            f"{per_run:.1f} s/run), baseline: after run {warm_up}",
            f"{settled:,.0f} MiB", f"{rss[-1]:,.0f} MiB (peak {peak:,.0f})", f"{growth:+.1%}",
            "≤ +10%", growth <= 0.10 and peak / settled - 1 <= 0.10),
        Row("P8 RSS after run 1 / 10 / 50 / 100 / 150 / last", "",
            " / ".join(f"{rss[i]:,.0f}" for i in (0, 9, 49, 99, 149, -1) if i < len(rss)),
            "MiB", "info", None),
        Row(f"P8 same {runs} runs, children recycled after 50 tasks (the default): peak RSS",
            f"{settled:,.0f} MiB", f"{max(recycled[warm_up:]):,.0f} MiB",
            f"{max(recycled[warm_up:]) / settled - 1:+.1%}", "≤ +10%",
            max(recycled[warm_up:]) / settled - 1 <= 0.10),
        Row(f"P8 worker child on JAX (DESCENT_KERAS_BACKEND=jax): RSS after {n} runs "
            "(baseline: TensorFlow)", f"{rss[n - 1]:,.0f} MiB", f"{jax[-1]:,.0f} MiB",
            f"{rss[n - 1] / jax[-1]:.2f}×", "info", None),
        Row(f"P8 JAX worker: RSS after run {min(warm_up, n)} → {n}; s/run (baseline: TF)",
            f"{per_run:.2f} s/run", f"{jax[min(warm_up, n) - 1]:,.0f} → {jax[-1]:,.0f} MiB; "
            f"{jax_per_run:.2f} s/run", f"{per_run / jax_per_run:.2f}×", "info", None),
    ]  # fmt: skip


SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "P5": bench_polling,
    "P6": bench_jobs,
    "P7": bench_plots,
    "P8": bench_memory,
}


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (all when none), print the table; 1 if a goal is missed."""
    names = pick_sections(argv, SECTIONS)
    if names is None:
        return 2
    # A SIGTERM (from `python -m bench` on a timeout) unwinds: servers stop, databases drop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = [row for name in names for row in SECTIONS[name]()]
    print_table(rows)
    print(f"\n(load average {os.getloadavg()[0]:.1f})")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
