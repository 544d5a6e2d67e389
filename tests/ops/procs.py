"""Process helpers for the ops tests: free ports, the entry point, health, /proc descendants."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Return every live descendant of `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    """Return the command line of a process ("" if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def entry_point() -> str:
    """Return the installed `descent-server` script (the venv's, beside this Python)."""
    script = Path(sys.executable).parent / "descent-server"
    found = str(script) if script.exists() else shutil.which("descent-server")
    assert found, "the descent-server entry point is not installed"
    return found


def server_command(port: int) -> list[str]:
    """Return the command that starts the embedded dev server on `port`."""
    return [entry_point(), "dev", "--port", str(port)]


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait until the dev server at `url` answers /healthz; fail with its log if it cannot."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"dev server exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"dev server not healthy after {STARTUP_TIMEOUT_S}s:\n{log.read_text()}")
