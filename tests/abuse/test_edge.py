"""Issue 13 items 1, 7 and 9 (dev --host): the edge of the API against a real server.

1. Large bodies, with no key, a wrong key or a valid one, are refused (401 or 413) without
   being read or parsed, while /healthz keeps answering.
7. /docs and /redoc load only files served by the API itself; every response carries the
   CSP, nosniff, frame and referrer headers.
9. `descent-server dev` refuses a non-loopback --host without --auth unless told so loudly.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from descent_server.cli import app as cli
from descent_server.embedded import is_loopback
from tests.abuse.conftest import anonymous
from tests.abuse.health import HealthWatch
from tests.api.helpers import MOVIES_RUN
from tests.faults.stack import Stack
from tests.ops.procs import entry_point

MB = 1024 * 1024
API_KNOBS = {"max_upload_bytes": str(4 * MB)}  # max_request_bytes keeps its 1 MB default
BIG = 44 * MB  # the body of the report
CHUNK = 256 * 1024
JSON = "application/json"
# The bound itself: a refusal arrives at once, not after the body was read (4.1 s before).
REFUSAL_BUDGET_S = 2.0
# What kernel socket buffers can swallow before the server's close stops the client.
UNREAD = BIG // 2
RUN = {**MOVIES_RUN, "hyperparameters": {"learning_rate": 1e-9, "epochs": 5}}


@dataclass
class Sent:
    """How a big POST went: the answer, how long it took, and how much of the body left us."""

    status: int
    detail: object
    headers: httpx.Headers
    elapsed: float
    consumed: int


def post_big(
    url: str, path: str, *, headers: dict[str, str], declared: bool, content_type: str
) -> Sent:
    """POST a BIG body, with Content-Length (declared) or chunked; count what was sent."""
    consumed = 0

    def body() -> Iterator[bytes]:
        nonlocal consumed
        piece = b"[" + b"1," * (CHUNK // 2 - 1) + b"1"  # the start of a huge JSON array
        while consumed < BIG:
            consumed += len(piece)
            yield piece

    extra = {"Content-Length": str(BIG)} if declared else {}
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60.0) as client:
        response = client.post(
            path, content=body(), headers={**headers, **extra, "Content-Type": content_type}
        )
    elapsed = time.perf_counter() - started
    return Sent(response.status_code, response.json()["detail"], response.headers, elapsed,
                consumed)  # fmt: skip


def assert_refused_unread(sent: Sent, status: int) -> None:
    """The answer is `status`, came within the budget, and most of the body was never sent."""
    assert sent.status == status, (sent.status, sent.detail)
    assert sent.elapsed < REFUSAL_BUDGET_S, sent
    assert sent.consumed < UNREAD, f"{sent.consumed} of {BIG} bytes were read"


def test_big_bodies_without_a_valid_key_are_refused_unread(abuse_stack: Stack) -> None:
    assert abuse_stack.api is not None
    url = abuse_stack.api.url
    attacks = [
        ("/v1/runs", {}, False, 401),  # chunked, no key: the auth gate answers first
        ("/v1/runs", {"Authorization": "Bearer dsk_not_a_key"}, False, 401),
        ("/v1/datasets", {"Authorization": "Basic YTpi"}, False, 401),
        ("/v1/runs/x/predict", {}, False, 401),
        ("/v1/runs", {}, True, 413),  # a declared 44 MB: refused from the header alone
        ("/v1/datasets", {"Authorization": "Bearer dsk_not_a_key"}, True, 413),
    ]
    with HealthWatch(url) as watch, ThreadPoolExecutor(len(attacks)) as pool:
        futures = [
            pool.submit(post_big, url, path, headers=h, declared=d, content_type=JSON)
            for path, h, d, _ in attacks
        ]
        results = [f.result() for f in futures]
    for (path, _, _, status), sent in zip(attacks, results, strict=True):
        assert_refused_unread(sent, status)
        assert isinstance(sent.detail, str) and sent.detail, path
        if status == 401:
            assert sent.headers["www-authenticate"] == "Bearer"
    watch.assert_healthy()
    with anonymous(abuse_stack) as client:  # and the same small request still gets its 401
        r = client.post("/v1/runs", json=RUN)
        assert r.status_code == 401 and "API key" in r.json()["detail"]


def test_big_authenticated_json_is_413_and_small_json_still_works(abuse_stack: Stack) -> None:
    assert abuse_stack.api is not None
    url, key = abuse_stack.api.url, dict(abuse_stack.http.headers)["authorization"]
    auth = {"Authorization": key}
    with HealthWatch(url) as watch, ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(post_big, url, path, headers=auth, declared=d, content_type=JSON)
            for path in ("/v1/runs", "/v1/sweeps")
            for d in (True, False)
        ]
        results = [f.result() for f in futures]
    for sent in results:
        assert_refused_unread(sent, 413)
        assert f"larger than {MB} bytes" in str(sent.detail)
    watch.assert_healthy()
    # The gate's verified caller is the one routes use: a normal submit and read work.
    r = abuse_stack.http.post("/v1/runs", json=RUN)
    assert r.status_code == 202, r.text
    assert abuse_stack.http.get(f"/v1/runs/{r.json()['id']}").json()["id"] == r.json()["id"]
    abuse_stack.http.post(f"/v1/runs/{r.json()['id']}/cancel")


def test_uploads_keep_their_own_larger_limit(abuse_stack: Stack) -> None:
    rows = b"".join(f"{i},{2 * i + 1}\n".encode() for i in range(300_000))
    csv = b"x,y\n" + rows
    assert MB < len(csv) < 4 * MB  # over the JSON limit, under the upload limit
    r = abuse_stack.http.post("/v1/datasets", files={"file": ("big.csv", csv, "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 300_000
    assert abuse_stack.http.delete(f"/v1/datasets/{r.json()['id']}").status_code == 204
    assert abuse_stack.api is not None
    key = dict(abuse_stack.http.headers)["authorization"]
    sent = post_big(abuse_stack.api.url, "/v1/datasets", headers={"Authorization": key},
                    declared=False, content_type="text/csv")  # fmt: skip
    assert_refused_unread(sent, 413)


def _resources(page: str) -> list[str]:
    """Every src= and href= of an HTML page."""
    return re.findall(r'(?:src|href)="([^"]*)"', page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_only_our_own_files(abuse_stack: Stack, path: str) -> None:
    with anonymous(abuse_stack) as client:
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "http://" not in html and "https://" not in html and "//" not in html
        assert "style=" not in html and "<style" not in html  # the CSP forbids inline style
        scripts = re.findall(r"<script([^>]*)>", html)
        assert scripts and all("src=" in attrs for attrs in scripts)  # no inline script
        resources = _resources(html)
        assert len(resources) >= 3
        for resource in resources:
            asset = client.get(resource)
            assert asset.status_code == 200, resource
            kind = asset.headers["content-type"]
            if resource.endswith(".js"):
                assert kind.startswith("text/javascript") and len(asset.content) > 100
            elif resource.endswith(".css"):
                assert kind.startswith("text/css")
        spec_url = re.search(r'(?:spec-url|data-openapi-url)="([^"]+)"', html)
        assert spec_url and client.get(spec_url.group(1)).json()["info"]["title"] == "descent"
        assert client.get("/docs/assets/settings.py").status_code == 404


def _assert_security_headers(response: httpx.Response) -> str:
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} {response.status_code}"
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("referrer-policy") == "no-referrer", where
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp, where
    script_src = re.search(r"script-src ([^;]*)", csp) or re.search(r"default-src ([^;]*)", csp)
    assert script_src and "unsafe" not in script_src.group(1), where
    return csp


def test_security_headers_everywhere(abuse_stack: Stack) -> None:
    http = abuse_stack.http
    with anonymous(abuse_stack) as anon:
        pages = [anon.get("/"), anon.get("/static/app.js"), anon.get("/static/style.css")]
        docs = [anon.get("/docs"), anon.get("/redoc"), anon.get("/docs/assets/swagger-ui.css")]
        api = [
            anon.get("/healthz"), anon.get("/openapi.json"), anon.get("/v1/runs"),
            anon.post("/v1/runs", content=b"{}" * MB, headers={"Content-Type": "application/json"}),
            http.get("/v1/runs"), http.get("/v1/runs/nope"), http.get("/v1/datasets"),
        ]  # fmt: skip
    assert [r.status_code for r in api] == [200, 200, 401, 413, 200, 404, 200]
    for response in pages:
        csp = _assert_security_headers(response)
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    for response in docs:
        csp = _assert_security_headers(response)
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
    for response in api:
        assert "default-src 'none'" in _assert_security_headers(response)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.20", False),
     ("no-such-host.invalid", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_dev_refuses_a_network_host_without_auth(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "10.0.0.1"):
        result = CliRunner().invoke(
            cli, ["dev", "--host", host, "--data-dir", str(tmp_path / "data")]
        )
        assert result.exit_code == 2, result.output
        assert f"refusing to serve {host} without --auth" in result.output
        assert "--allow-remote-no-auth" in result.output
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_dev_on_a_network_host_warns_when_allowed(tmp_path: Path) -> None:
    with socket.socket() as taken:  # a taken port: the server stops before serving anything
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [entry_point(), "dev", "--host", "0.0.0.0", "--port", port]
        proc = subprocess.run(
            [*command, "--allow-remote-no-auth"], cwd=tmp_path, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        with_auth = subprocess.run(
            [*command, "--auth"], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert "WARNING: serving 0.0.0.0 with auth OFF" in proc.stderr
    assert "address already in use" in (proc.stderr + proc.stdout).lower()
    assert proc.returncode != 0 and "celery" not in proc.stderr + proc.stdout
    assert "WARNING" not in with_auth.stderr and "refusing" not in with_auth.stderr
    assert "address already in use" in (with_auth.stderr + with_auth.stdout).lower()
