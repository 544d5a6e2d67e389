"""A newcomer's surprises (issue 18), through the SDK: errors that say where and how, short
reprs with dashboard links, GIFs in Jupyter, kind-specific history frames, wait() that
rides out an outage and says what it last saw when it gives up."""

from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

import descent
import httpx
import pandas as pd
import pytest
from descent import _client as client_module

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

MOVIES: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
}
RUNNING = {
    "id": "r1",
    "kind": "linear_regression",
    "status": "running",
    "progress": {"epoch": 3, "epochs": 5},
}
DONE = {**RUNNING, "status": "succeeded", "progress": {"epoch": 5, "epochs": 5}}


def closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_error_names_the_url_and_the_setting() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with descent.Client(url, max_retries=0) as client, pytest.raises(descent.TransportError) as e:
        client.runs.list()
    message = str(e.value)
    assert f"{url}/v1/runs" in message and "DESCENT_URL" in message


def test_the_default_url_is_said_out_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESCENT_URL", raising=False)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    transport = httpx.MockTransport(refuse)
    with descent.Client(transport=transport, max_retries=0) as client:
        assert client.url_source == "default"
        with pytest.raises(descent.TransportError) as caught:
            client.runs.get("r1")
    message = str(caught.value)
    assert "http://127.0.0.1:8000 (the default: DESCENT_URL is not set" in message


def test_a_v1_suffix_is_dropped_with_a_warning(server: Server) -> None:
    with pytest.warns(UserWarning, match="ends in /v1; the client adds /v1 itself"):
        sdk = descent.Client("http://testserver/v1/", api_key=server.key, http_client=server.http)
    assert sdk.base_url == "http://testserver"
    assert sdk.runs.list() == []  # not a bare 404


def test_short_reprs_and_dashboard_urls(client: descent.Client) -> None:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=50)
    writer = RunWriter(run.id)
    writer.epochs(range(0, 8))
    run.refresh()
    text = repr(run)
    assert "\n" not in text and len(text) < 120, text
    assert text == f"<Run {run.id} linear_regression running epoch 7/50 loss=12.5>"
    assert run.url == f"http://testserver/#/runs/{run.id}"
    sweep = client.sweeps.create(run=MOVIES, grid={"learning_rate": [1e-12, 2e-10]})
    assert repr(sweep) == f"<Sweep {sweep.id} {sweep.status} 0/2 runs final>"
    assert sweep.url == f"http://testserver/#/sweeps/{sweep.id}"
    assert len(repr(sweep.runs[0])) < 120


def test_gif_plots_show_inline_as_html() -> None:
    gif = descent.Plot(b"GIF89a-frames", "image/gif", "boundary.gif")
    html = gif._repr_html_()
    assert html is not None
    assert html.startswith('<img src="data:image/gif;base64,')
    assert base64.b64encode(b"GIF89a-frames").decode() in html
    assert descent.Plot(b"\x89PNG", "image/png")._repr_html_() is None  # PNG: _repr_png_


def test_unknown_builtin_lists_the_builtins(client: descent.Client) -> None:
    with pytest.raises(descent.NotFound) as caught:
        client.datasets.builtin("mnist")
    assert "'mnist'" in str(caught.value) and "'movies'" in str(caught.value)
    assert "'three-blobs'" in str(caught.value)


def test_builtin_datasets_are_typed_for_runs_create(client: descent.Client) -> None:
    movies = client.datasets.builtin("movies")
    assert isinstance(movies, descent.BuiltinDataset)
    assert isinstance(movies.kind, str) and movies.features and movies.target
    run = client.runs.create(
        kind=movies.kind, dataset=movies, features=movies.features, target=movies.target
    )
    assert run.result == {}  # not None before the run is final: result["params"] type-checks


def test_history_frames_carry_only_the_kinds_columns(client: descent.Client) -> None:
    regression = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=300)
    RunWriter(regression.id).epochs(range(301))
    frame = regression.history()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["loss", "recorded_at", "params.a", "params.b"]
    mlp = client.runs.create(
        kind="mlp_classifier",
        dataset="builtin:three-blobs",
        features=["x1", "x2"],
        target="label",
        epochs=2,
    )
    RunWriter(mlp.id).epochs(range(3), accuracy=0.5, params={})
    columns = list(mlp.history().columns)
    assert "accuracy" in columns and not [c for c in columns if c.startswith("params")]


def test_history_max_points_spreads_over_the_run(client: descent.Client) -> None:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=300)
    RunWriter(run.id).epochs(range(301))  # a falling loss: its extremes are the ends
    epochs = [row["epoch"] for row in run.history(max_points=5, as_frame=False)]
    assert epochs == [0, 75, 150, 225, 300]
    epochs = list(run.history(max_points=11).index)
    assert len(epochs) == 11 and epochs[0] == 0 and epochs[-1] == 300
    # No gap wider than a bucket (4 buckets' lows and highs, then spares in the widest gaps).
    assert max(b - a for a, b in zip(epochs, epochs[1:], strict=False)) <= 300 / 4


def scripted(*answers: Any) -> httpx.MockTransport:
    """A transport answering each request with the next item (a Response or an exception)."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", delays.append)
    return delays


def test_wait_retries_an_outage_then_returns_the_run(sleeps: list[float]) -> None:
    down = httpx.ConnectError("[Errno 111] Connection refused")
    transport = scripted(
        httpx.Response(200, json=RUNNING),  # the first GET
        *[down] * 4,  # the event stream, and its reconnects
        *[down] * 20,  # polling while the API is down: more than max_retries=3
        httpx.Response(502, json={"detail": "bad gateway"}),
        httpx.Response(503, json={"detail": "starting"}),
        httpx.Response(200, json=DONE),
    )
    with descent.Client("http://api.test", transport=transport, backoff=0.01) as client:
        run = client.runs.wait("r1", progress=False, poll_interval=0.01)
    assert run.status == "succeeded"
    assert max(sleeps) <= 5.0  # a restarting server is asked again within seconds


def test_wait_gives_up_naming_the_run_and_its_last_status(sleeps: list[float]) -> None:
    down = httpx.ConnectError("[Errno 111] Connection refused")
    transport = scripted(httpx.Response(200, json=RUNNING), down)
    client = descent.Client("http://api.test", transport=transport, backoff=0.01)
    with client, pytest.raises(descent.TransportError) as caught:
        client.runs.wait("r1", progress=False, retry_for=0)
    message = str(caught.value)
    assert "gave up waiting for run r1" in message
    assert "last status running (epoch 3 of 5)" in message
    assert "http://api.test/v1/runs/r1" in message


def test_async_wait_retries_an_outage_too() -> None:
    down = httpx.ConnectError("[Errno 111] Connection refused")
    answers = [httpx.Response(200, json=RUNNING), *[down] * 8]
    answers += [httpx.Response(502, json={"detail": "bad gateway"}), httpx.Response(200, json=DONE)]

    async def handle(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def main() -> descent.AsyncRun:
        transport = httpx.MockTransport(handle)
        async with descent.AsyncClient("http://api.test", transport=transport, backoff=0.01) as c:
            return await c.runs.wait("r1", poll_interval=0.01)

    assert asyncio.run(main()).status == "succeeded"
