"""Embedded (dev) mode: migrate, start a real Celery worker as a child, serve the API in front."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url

from descent_server.settings import Settings, get_settings

CELERY_APP = "descent_server.workers.celery_app"
WORKER_STOP_GRACE_S = 10.0
WARM_TIMEOUT_S = 120.0  # Keras takes ~5 s to import, far longer on a loaded machine
# Running as root is normal in a container; a dev worker need not lecture about it.
ROOT_WARNING = "ignore:You're running the worker with superuser privileges"


def worker_command(*, queues: str = "cpu", concurrency: int = 1) -> list[str]:
    """Return the command line that starts one Celery worker (it runs lease recovery too)."""
    return [
        sys.executable, "-W", ROOT_WARNING, "-m", "celery", "-A", CELERY_APP,
        "--quiet",  # no ASCII-art banner: our own lines say what runs where
        "worker", "-Q", queues, "-c", str(concurrency), "--pool", "prefork",
        "--loglevel", "info", "--hostname", f"dev-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",  # one worker: nobody to gossip with
    ]  # fmt: skip


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child if the dev process dies without cleaning up."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_worker(cmd: list[str]) -> subprocess.Popen[bytes]:
    """Start a worker in its own process group, so that stopping it reaches its pool children."""
    # Its own session also keeps a terminal's Ctrl-C away from it: the dev process stops it.
    return subprocess.Popen(
        cmd,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def stop_worker(proc: subprocess.Popen[bytes], grace_s: float = WORKER_STOP_GRACE_S) -> int | None:
    """Stop a worker: warm shutdown first, then kill whatever is left of its process group."""
    pgid = proc.pid  # start_new_session made the worker its group's leader
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        # A task still training would hold a warm shutdown past the grace; its run is
        # leased, so lease recovery takes it over after the next start.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    # Pool children or a stuck main process must not outlive the dev server.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    return proc.returncode


@contextlib.contextmanager
def running_worker(cmd: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run a worker for the duration of the block and always stop it afterwards."""
    proc = start_worker(cmd)
    try:
        yield proc
    finally:
        if threading.current_thread() is threading.main_thread():
            # A second Ctrl-C must not cut the clean-up short and orphan the worker.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_worker(proc)


def wait_warm(proc: subprocess.Popen[bytes], marker: Path, timeout_s: float) -> float | None:
    """Wait until the worker's pool child wrote `marker`; return the seconds (None: it did not).

    Exit (status 1, the reason on stderr) if the worker exits first.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if marker.exists():
            return time.monotonic() - start
        if proc.poll() is not None:
            raise SystemExit(f"descent: the worker exited ({proc.returncode}) while starting")
        time.sleep(0.1)
    return None


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints where it serves once the socket is bound."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.banner, flush=True)


def is_loopback(host: str) -> bool:
    """True when `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # not resolvable: uvicorn will fail to bind it anyway
    # A name counts as loopback only if every address it resolves to is.
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def _safe(url: str) -> str:
    """Hide the password of a database URL."""
    return make_url(url).render_as_string(hide_password=True)


def configure(*, data_dir: Path, auth: bool) -> None:
    """Point this process and its children at the embedded configuration."""
    # Environment variables are how the worker child gets the same settings as the API.
    os.environ["DESCENT_DATA_DIR"] = str(data_dir.resolve())
    os.environ["DESCENT_AUTH_ENABLED"] = "true" if auth else "false"
    get_settings.cache_clear()


def serve(*, host: str, port: int, data_dir: Path, auth: bool) -> None:
    """Run the whole service in one terminal until Ctrl-C or SIGTERM."""
    # SIGTERM must unwind through the `finally` below (uvicorn re-raises it after its own
    # graceful shutdown), so that the worker is stopped and never orphaned.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    configure(data_dir=data_dir, auth=auth)
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    from descent_server.db.migrate import upgrade

    print(
        f"descent: starting on {host}:{port}: database, then a worker warmed up "
        "(numpy engines and Keras, a few seconds)…",
        flush=True,
    )
    upgrade()
    config = uvicorn.Config(
        "descent_server.api.app:create_app", factory=True, host=host, port=port, log_level="info"
    )
    # Our start-up and ready lines replace uvicorn's; its warnings and errors still show.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    # Bind before the worker starts: a taken port fails fast (exit 3) and leaves nothing behind.
    sock = config.bind_socket()
    url = f"http://{host}:{sock.getsockname()[1]}"
    from descent_server.workers.celery_app import warm_marker  # after configure(): data_dir

    marker = warm_marker(settings)
    marker.unlink(missing_ok=True)  # a previous run's marker says nothing about this worker
    try:
        with running_worker(worker_command()) as worker:
            warm_s = wait_warm(worker, marker, WARM_TIMEOUT_S)
            _AnnouncingServer(config, _banner(url, settings, auth, warm_s)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("descent stopped", flush=True)


def _banner(url: str, settings: Settings, auth: bool, warm_s: float | None) -> str:
    """Return the ready lines: where it serves, what it stores where, how the worker is."""
    worker = (
        f"warm ({warm_s:.1f} s: numpy engines and Keras loaded)"
        if warm_s is not None
        else f"still warming up after {WARM_TIMEOUT_S:.0f} s (the first runs may wait)"
    )
    return (
        f"descent is serving on {url} (dashboard /, docs /docs)\n"
        f"  data: {settings.data_dir.resolve()}  "
        f"database: {_safe(settings.resolved_database_url())}\n"
        f"  auth: {'on (create a key: descent-server keys create --owner NAME)' if auth else 'off'}"
        f"\n  worker: {worker}"
    )
