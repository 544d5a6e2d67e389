"""Private servers for fault injection: a Redis, a PostgreSQL and the API, each ours to kill.

The machine's shared Redis (6379) and PostgreSQL (5432) serve every other test running at
the same time, so nothing here ever stops them: a test that restarts "Redis" or stops
"PostgreSQL" does it to an instance it started itself on a free port.

    with PrivateRedis(log_path) as redis:      # redis-server --port N, no persistence
        redis.kill(); redis.start()
    with PrivatePostgres() as pg:              # initdb in /tmp, run as the postgres user
        pg.stop(); pg.start()
    api = ApiServer(env, log_path).start()     # `descent-server api` (uvicorn) subprocess
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import psycopg
import redis

from tests.ops.procs import entry_point, free_port

START_TIMEOUT_S = 90.0


def clean_env(**descent: str) -> dict[str, str]:
    """Return os.environ without any DESCENT_* variable, plus DESCENT_<KEY> for each kwarg."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    env.update({f"DESCENT_{key.upper()}": value for key, value in descent.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait(check: object, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not up after {timeout_s}s")
        time.sleep(0.1)


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence (a restart empties it)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """Return the redis:// URL of database `db` on this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        """Start the server (again, on the same port) and wait until it answers PING."""
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: redis.Redis(port=self.port, socket_timeout=1).ping(), "redis")
        return self

    def kill(self) -> None:
        """SIGKILL the server: every queued message is gone (no persistence)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self, db: int = 0) -> redis.Redis:
        """Return a client on database `db`."""
        return redis.Redis(port=self.port, db=db, socket_timeout=5)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temp dir (owned by `postgres`), on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="descent-faults-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = Path(bins[-1])
        self._admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout_s: float = 120.0) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout}\n{done.stderr}")

    def url(self, name: str) -> str:
        """Return the SQLAlchemy URL of database `name` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def init(self) -> PrivatePostgres:
        """Create the cluster (trust auth, no fsync: a test cluster) and start it."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self.start()

    def start(self) -> PrivatePostgres:
        """Start the server (again) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "start",
        )
        _wait(self.running, "postgres")
        return self

    def running(self) -> bool:
        """True while the server accepts connections."""
        try:
            psycopg.connect(self._admin, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def ensure_running(self) -> None:
        """Start the server if a test left it stopped."""
        if not self.running():
            self.start()

    def stop(self) -> None:
        """Stop the server now (`-m fast`: open connections are cut, as in a crash or restart)."""
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )

    def create_database(self, name: str) -> str:
        """Create database `name`; return its URL."""
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def __enter__(self) -> PrivatePostgres:
        return self.init()

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self._as_postgres(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                "stop",
                timeout_s=30,
            )
        shutil.rmtree(self.root, ignore_errors=True)


class ApiServer:
    """`descent-server api` (uvicorn, `workers` processes) in its own process group."""

    def __init__(self, env: Mapping[str, str], log_path: Path, workers: int = 1) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiServer:
        """Start the server and wait until /healthz answers."""
        cmd = [entry_point(), "api", "--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200

        _wait(healthy, "api server")
        return self

    def log(self) -> str:
        """Return what the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the group if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
