"""Shared benchmark plumbing: table rows, median timing, scratch databases, real servers.

A section prints its rows with `print_table`; `python -m bench` parses those tables back
(`parse_table`) from every section's subprocess and prints one combined table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = ("work", "baseline", "ours", "ratio", "goal", "pass")
PG = "postgres@127.0.0.1:5432"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Row:
    """One line of a benchmark table; passed None means for information (no goal)."""

    work: str
    baseline: str
    ours: str
    ratio: str
    goal: str
    passed: bool | None

    def cells(self) -> tuple[str, ...]:
        """Return the row as table cells."""
        verdict = "-" if self.passed is None else ("yes" if self.passed else "NO")
        return (self.work, self.baseline, self.ours, self.ratio, self.goal, verdict)


def pick_sections(argv: list[str] | None, sections: Mapping[str, object]) -> list[str] | None:
    """Return the section names asked for (all when none); None, after saying why, if unknown."""
    names = list(sys.argv[1:] if argv is None else argv) or list(sections)
    unknown = [name for name in names if name not in sections]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(sections)}", file=sys.stderr)
        return None
    return names


def print_table(rows: list[Row] | list[tuple[str, ...]], number: bool = False) -> None:
    """Print rows as one aligned `a | b | c` table under the header (optionally numbered)."""
    lines = [r.cells() if isinstance(r, Row) else tuple(r) for r in rows]
    header = HEADER
    if number:
        header = ("#", *HEADER)
        lines = [(str(i), *line) for i, line in enumerate(lines, 1)]
    widths = [max(len(c[i]) for c in [header, *lines]) for i in range(len(header))]
    for i, line in enumerate([header, *lines]):
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    sys.stdout.flush()


def parse_table(text: str) -> list[tuple[str, ...]]:
    """Return the rows of every `work | baseline | ... | pass` table printed in `text`."""
    rows: list[tuple[str, ...]] = []
    inside = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        if cells[0] == "work" and len(cells) >= 5:
            inside = True
        elif inside and set(line.strip()) <= {"-", "+"} and line.strip():
            continue
        elif inside and len(cells) >= 4:
            rows.append(tuple((cells + [""] * 6)[:6]))
        else:
            inside = False
    return rows


def median_time(fn: Callable[[], object], runs: int, warm_up: bool = True) -> float:
    """Return the median wall time in seconds of `runs` calls (after one untimed call)."""
    if warm_up:
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fmt_time(seconds: float) -> str:
    """Return a duration with a readable unit."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def quantile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of values (nearest rank; fine for benchmark summaries)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@contextlib.contextmanager
def scratch_postgres(prefix: str = "descent_bench") -> Iterator[str]:
    """Yield the URL of a fresh database `<prefix>_<uuid8>`, migrated; dropped afterwards."""
    import psycopg

    from descent_server.db.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = f"postgresql://{PG}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        url = f"postgresql+psycopg://{PG}/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@dataclass
class Stack:
    """The environment of one benchmarked deployment and the processes started on it."""

    env: dict[str, str]
    data_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def apply(self) -> None:
        """Point this process's settings at the stack (for in-process service calls)."""
        from descent_server.db.session import reset_engine
        from descent_server.settings import get_settings
        from descent_server.workers.queue import reset_producer

        for key in [k for k in os.environ if k.startswith("DESCENT_")]:
            del os.environ[key]
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("DESCENT_")})
        get_settings.cache_clear()
        reset_engine()
        reset_producer()

    def start(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        """Start `command` in its own process group, logging to the data dir."""
        with open(self.data_dir / log_name, "ab") as log:
            proc = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.data_dir,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def api(self, workers: int = 2) -> str:
        """Start `descent-server api --workers N`; return its base URL once /healthz answers."""
        port = free_port()
        proc = self.start(
            [str(BIN / "descent-server"), "api", "--port", str(port), "--workers", str(workers)],
            f"api-{port}.log",
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc, self.data_dir / f"api-{port}.log")
        return base

    def worker(self, concurrency: int = 1, extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """Start a real prefork Celery worker on the cpu queue; return once it is ready."""
        from tests.helpers.processes import worker_command

        name = f"worker-{len(self.procs)}.log"
        proc = self.start(worker_command("cpu", concurrency, extra), name)
        deadline = time.monotonic() + 120
        while "ready." not in (self.data_dir / name).read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.data_dir / name).read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        return proc

    def stop(self) -> None:
        """Stop every started process group (SIGTERM, then SIGKILL)."""
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()


@contextlib.contextmanager
def production_stack(extra_env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """Yield a Stack on a scratch PostgreSQL database and Redis db, auth off; clean up after."""
    from tests.helpers.redis_db import reserved_redis_db  # the tests' reservations: no clashes

    with (
        scratch_postgres() as db_url,
        reserved_redis_db("bench") as broker_url,
        tempfile.TemporaryDirectory(prefix="descent-bench-") as tmp,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
        env.update(
            DESCENT_DATABASE_URL=db_url,
            DESCENT_BROKER_URL=broker_url,
            DESCENT_DATA_DIR=str(Path(tmp) / "data"),
            DESCENT_AUTH_ENABLED="false",
            **(extra_env or {}),
        )
        (Path(tmp) / "data").mkdir()
        stack = Stack(env=env, data_dir=Path(tmp))
        stack.apply()
        try:
            yield stack
        finally:
            stack.stop()
            from descent_server.db.session import reset_engine

            reset_engine()


def free_port() -> int:
    """Return a free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Wait until `url` answers 200 (raise with the log if the process dies or time runs out)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def rss_mb(pid: int) -> float:
    """Return the resident set size of a process in MiB (from /proc; no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


def children(pid: int) -> list[int]:
    """Return the pids of a process's direct children (from /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Return the user+system CPU seconds used so far by each live process of `pids`."""
    used = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime and stime, in clock ticks (fields 14 and 15 of proc(5)).
            used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """Return the CPU seconds `pids` used since `before` (new processes: all of theirs)."""
    now = cpu_seconds(pids)
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in now.items())


def postgres_backends(database_url: str) -> list[int]:
    """Return the pids of the PostgreSQL backends connected to this database now."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(f"postgresql://{PG}/postgres", autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return [int(r[0]) for r in rows]


def wrk_stats(stdout: str) -> dict[str, Any]:
    """Return the JSON line a bench wrk script prints (`WRK {...}`), with rps, p50 and p99 in
    seconds added."""
    import json

    stats: dict[str, Any] = json.loads(
        next(line[4:] for line in stdout.splitlines() if line.startswith("WRK "))
    )
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["p50"], stats["p99"] = stats["p50_us"] / 1e6, stats["p99_us"] / 1e6
    return stats
