"""Browser tests of the dashboard: a live `descent-server dev --auth` and headless Chromium.

The server is the real thing (API + a real Celery worker on SQLite and the file broker),
started once per session: `live_server` with auth on (`live_server.key` is an API key made
with the server CLI), `open_server` with auth off as `descent-server dev` runs by default.
Chromium is Debian's (`apt-get install chromium`), driven by Playwright without downloading
browsers. Set DESCENT_BROWSER_URL (and DESCENT_BROWSER_KEY) to run the auth-on tests against
a server you already started instead.

`page` collects console errors and uncaught exceptions and fails the test on any, unless
the test lists the messages it expects in `page.allowed_errors` (regular expressions).
Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    """A running descent server: its base URL (ending in /) and an API key for it."""

    url: str
    key: str

    def api(self) -> httpx.Client:
        """Return an HTTP client for the /v1 API with the key."""
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_cli() -> str:
    entry_point = Path(sys.executable).parent / "descent-server"
    found = str(entry_point) if entry_point.exists() else shutil.which("descent-server")
    assert found, "the descent-server entry point is not installed"
    return found


def _die_with_pytest() -> None:
    # A killed pytest skips its finalizers: Linux then SIGTERMs the server, which stops its worker.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited:\n{log.read_text()}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # dev stops its worker on SIGTERM; the group kill is a backstop for anything left.
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def _dev_server(workdir: Path, *, auth: bool) -> Iterator[LiveServer]:
    """Run `descent-server dev` (API + worker) in `workdir`; with auth, make a key first."""
    data_dir = workdir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
    env |= {"DESCENT_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    cli = _server_cli()
    key = ""
    if auth:
        subprocess.run([cli, "migrate"], cwd=workdir, env=env, check=True, capture_output=True)
        created = subprocess.run(
            [cli, "keys", "create", "--owner", "browser"],
            cwd=workdir, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = workdir / "server.log"
    command = [cli, "dev", "--port", str(port), "--data-dir", str(data_dir)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command + (["--auth"] if auth else []),
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_pytest if sys.platform == "linux" else None,
        )  # fmt: skip
    try:
        _wait_ready(proc, url, log)
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "static/app.js" in page.text, (
            "the API does not serve the dashboard at / — create_app() must include "
            "descent_server.api.routes.dashboard.router"
        )
        yield LiveServer(url=url, key=key)
    finally:
        _stop(proc)
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / f"browser-server{'-auth' if auth else '-open'}.log")


@pytest.fixture(scope="package")  # torn down before other packages: Playwright holds an event loop
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The dev server with auth on, in a temp data dir, for the whole session."""
    if os.environ.get("DESCENT_BROWSER_URL"):
        url = os.environ["DESCENT_BROWSER_URL"].rstrip("/") + "/"
        yield LiveServer(url=url, key=os.environ.get("DESCENT_BROWSER_KEY", ""))
        return
    with _dev_server(tmp_path_factory.mktemp("browser-auth"), auth=True) as server:
        yield server


@pytest.fixture(scope="package")  # torn down before other packages: Playwright holds an event loop
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The dev server as `descent-server dev` starts it by default: auth off."""
    with _dev_server(tmp_path_factory.mktemp("browser-open"), auth=False) as server:
        yield server


@pytest.fixture(scope="package")  # torn down before other packages: Playwright holds an event loop
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    try:
        from playwright import sync_api
    except ImportError:  # a missing driver must fail, not skip, the browser tests
        pytest.fail("the browser tests need Playwright: pip install playwright")
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser page (empty localStorage) that fails the test on console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.allowed_errors = []
    page.set_default_timeout(30_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    with contextlib.suppress(Exception):
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()
    unexpected = [e for e in errors if not any(re.search(p, e) for p in page.allowed_errors)]
    assert not unexpected, f"console errors: {unexpected}"


@pytest.fixture
def shot() -> object:
    """Return shot(page, name, full_page=True): a screenshot saved as test-artifacts/NAME.png."""

    def save(page: object, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
        return path

    return save
