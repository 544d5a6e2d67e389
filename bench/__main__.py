"""Run the benchmark suite: `python -m bench [P1 ... P8 H M L events]` (no names: every section).

Each section runs in its own subprocess (a fresh interpreter: no section's imports, threads
or caches colour another's numbers), one after the other, never side by side. Their tables
are merged into one: # | work | baseline | ours | ratio | goal | pass. Exit status 1 when a
goal is missed, 2 when a section failed to run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import parse_table, pick_sections, print_table

ROOT = Path(__file__).resolve().parents[1]
SECTION_TIMEOUT_S = 1800
# name → (what it measures, command after `python -m`)
SECTIONS: dict[str, tuple[str, list[str]]] = {
    "P1": ("regression engine", ["bench.engines", "regression"]),
    "P2": ("loss surface", ["bench.engines", "surface"]),
    "P3": ("MLP engine and Keras backends", ["bench.engines", "mlp"]),
    "P4": ("history store", ["bench.history_store"]),
    "P5": ("GET /v1/runs/{id} under load", ["bench.service", "P5"]),
    "P6": ("submit → succeeded, throughput", ["bench.service", "P6"]),
    "P7": ("plot PNGs", ["bench.service", "P7"]),
    "P8": ("worker memory", ["bench.service", "P8"]),
    "H": ("history over HTTP vs the repository", ["bench.http_history"]),
    "M": ("history: MLflow vs descent, side by side", ["bench.mlflow_side"]),
    "L": ("polling while training", ["bench.mixed_load"]),
    "events": ("epoch stored → SSE client", ["bench.events_latency"]),
}
EVENTS_GOAL_MS = 1000  # issue 4: a new epoch reaches a listener within one second
VERDICTS = {"pass": "yes", "FAIL": "NO", "(pass)": "(yes)", "(miss)": "(no)"}


def run_section(command: list[str]) -> tuple[int, str, str]:
    """Run `python -m command...` from the repo root; return (status, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", *command], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=SECTION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # lets the section stop its servers and drop its db
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        err += f"\n(timed out after {SECTION_TIMEOUT_S} s)"
    return proc.returncode, out, err


def events_rows() -> list[tuple[str, ...]]:
    """Measure SSE latency embedded (SQLite) and in production mode (PostgreSQL)."""
    rows = []
    for label, extra in (("embedded SQLite", []), ("PostgreSQL", ["--postgres"])):
        status, out, err = run_section([*SECTIONS["events"][1], *extra])
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if status != 0 or not lines:
            rows.append(failed_row(f"events ({label})", status, err))
            continue
        r = json.loads(lines[-1])
        ok = r["p99_ms"] <= EVENTS_GOAL_MS and r["missing"] == 0
        rows.append((
            f"events: epoch committed → SSE client, {r['listeners']} listeners ({label})",
            "", f"p50 {r['p50_ms']:.0f} ms / p99 {r['p99_ms']:.0f} ms",
            f"{r['samples']} samples, {r['missing']} missing",
            f"p99 ≤ {EVENTS_GOAL_MS} ms", "yes" if ok else "NO",
        ))  # fmt: skip
    return rows


def failed_row(name: str, status: int, err: str) -> tuple[str, ...]:
    """Return a row saying that a section did not run, and show why on stderr."""
    print(f"--- {name} failed (exit {status}):\n{err[-3000:]}", file=sys.stderr)
    return (f"{name}: did not run (exit {status}, see stderr)", "", "", "", "", "FAILED")


def rows_of(name: str) -> list[tuple[str, ...]]:
    """Run one section and return its rows, each labelled with the section's name."""
    if name == "events":
        return events_rows()
    status, out, err = run_section(SECTIONS[name][1])
    rows = parse_table(out)
    if not rows or status not in (0, 1):  # 1: ran, but missed a goal
        return [failed_row(name, status, err)]
    labelled = []
    for work, *cells, verdict in rows:
        work = work if work.startswith(name) else f"{name} {work}"
        labelled.append((work, *cells, VERDICTS.get(verdict, verdict)))
    return labelled


def main(argv: list[str] | None = None) -> int:
    """Run the named sections (all when none) one by one; print the combined table."""
    names = pick_sections(argv, SECTIONS)
    if names is None:
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[tuple[str, ...]] = []
    began = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        print(f"[{name}] {SECTIONS[name][0]} ...", file=sys.stderr, flush=True)
        rows += rows_of(name)
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print_table(rows, number=True)
    load = os.getloadavg()
    print(
        f"\n({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
        f"suite took {time.perf_counter() - began:.0f} s)"
    )
    verdicts = [row[-1] for row in rows]
    if "FAILED" in verdicts:
        return 2
    return 1 if "NO" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
