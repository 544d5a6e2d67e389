"""GET /v1/runs/{id}/events: order, status, resume, keep-alive, tenancy, no held connections."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Engine

from descent_server.api import live
from descent_server.api.routes import events as events_route
from descent_server.db.session import get_engine
from tests.api.helpers import MOVIES_RUN
from tests.sdk.run_writer import RunWriter

pytestmark = pytest.mark.timeout(120)


def submit(api: Any) -> str:
    response = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse text/event-stream lines; comments come out as {"comment": text}."""
    event: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif not line:
            if "data" in event:
                event["data"] = json.loads(event["data"])
                yield event
            event = {}
        else:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def read_all(api: Any, run_id: str, **kwargs: Any) -> list[dict[str, Any]]:
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [e for e in sse(response.iter_lines()) if "comment" not in e]


def epochs_of(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["id"]) for e in events if e.get("event") == "epoch"]


def test_finished_run_streams_every_epoch_then_final_status(api: Any) -> None:
    run_id = submit(api)
    worker = RunWriter(run_id)
    worker.epochs(range(0, 30))
    worker.epochs(range(30, 51))
    worker.finish()
    events = read_all(api, run_id, headers=api.a)
    assert epochs_of(events) == list(range(51))
    first = events[0]["data"]
    assert (
        first["epoch"] == 0 and first["loss"] == 100.0 and first["params"] == {"a": 0.0, "b": 1.0}
    )
    assert set(first) >= {"val_loss", "accuracy", "val_accuracy", "grad_norms", "weight_norms"}
    assert first["recorded_at"].endswith("Z")  # the history row's RFC 3339 UTC time
    assert events[-1]["event"] == "status"
    assert events[-1]["data"]["status"] == "succeeded"
    assert events[-1]["data"]["progress"] == {"epoch": 50, "epochs": 50}


@pytest.mark.parametrize("how", ["header", "query"])
def test_resume_after_last_event_id_has_no_gaps_or_repeats(api: Any, how: str) -> None:
    run_id = submit(api)
    worker = RunWriter(run_id)
    worker.epochs(range(0, 51))
    worker.finish()
    if how == "header":
        events = read_all(api, run_id, headers={**api.a, "Last-Event-ID": "17"})
    else:
        events = read_all(api, run_id, headers=api.a, params={"since_epoch": 17})
    assert epochs_of(events) == list(range(18, 51))
    assert events[-1]["data"]["status"] == "succeeded"


def test_live_stream_follows_a_running_run(api: Any) -> None:
    run_id = submit(api)
    worker = RunWriter(run_id)
    worker.epochs(range(0, 3))

    def train() -> None:
        for start in range(3, 60, 7):
            time.sleep(0.05)
            worker.epochs(range(start, min(start + 7, 60)))
        worker.finish("diverged")

    received: list[dict[str, Any]] = []
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a) as response:
        thread = threading.Thread(target=train)
        for event in sse(response.iter_lines()):
            if "comment" in event:
                continue
            received.append(event)
            if len(received) == 1:  # the stream is open: start "training"
                thread.start()
    thread.join()
    assert epochs_of(received) == list(range(60))
    statuses = [e["data"]["status"] for e in received if e["event"] == "status"]
    assert statuses[0] == "running" and statuses[-1] == "diverged"
    assert received[-1]["event"] == "status"  # the final status comes after every epoch


def test_resume_mid_run_by_last_event_id(api: Any) -> None:
    run_id = submit(api)
    worker = RunWriter(run_id)
    worker.epochs(range(0, 10))
    seen: list[int] = []
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a) as response:
        for event in sse(response.iter_lines()):
            if event.get("event") == "epoch":
                seen.append(int(event["id"]))
            if seen and seen[-1] == 9:
                break  # the connection drops
    worker.epochs(range(10, 20))
    worker.finish()
    rest = read_all(api, run_id, headers={**api.a, "Last-Event-ID": str(seen[-1])})
    assert seen + epochs_of(rest) == list(range(20))


def test_status_only_stream(api: Any) -> None:
    run_id = submit(api)
    worker = RunWriter(run_id)
    worker.epochs(range(0, 5))
    worker.finish()
    events = read_all(api, run_id, headers=api.a, params={"epochs": "false"})
    assert [e["event"] for e in events] == ["status"]
    assert events[0]["data"]["status"] == "succeeded"


def test_queued_then_cancelled_run_ends_the_stream(api: Any) -> None:
    run_id = submit(api)
    received: list[dict[str, Any]] = []
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a) as response:
        for event in sse(response.iter_lines()):
            received.append(event)
            if len(received) == 1:
                assert event["data"]["status"] == "queued"
                assert (
                    api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a).status_code == 202
                )
    assert [e["data"]["status"] for e in received] == ["queued", "cancelled"]


def test_keep_alive_comments_while_idle(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "PING_INTERVAL_S", 0.2)
    run_id = submit(api)
    RunWriter(run_id)
    kinds = []
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a) as response:
        for event in sse(response.iter_lines()):
            kinds.append("comment" if "comment" in event else event["event"])
            if kinds.count("comment") == 2:
                break
    assert kinds[0] == "status" and kinds[1:] == ["comment", "comment"]


def test_idle_listeners_hold_no_database_connection(api: Any) -> None:
    run_id = submit(api)
    RunWriter(run_id).epochs(range(0, 2))
    pool = get_engine().pool
    streams = []
    api.client.__enter__()  # one event loop for every stream, as in a server process
    try:
        for _ in range(5):
            stream = api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a)
            response = stream.__enter__()
            streams.append(stream)
            events = sse(response.iter_lines())
            assert [next(events)["event"] for _ in range(3)] == ["epoch", "epoch", "status"]
        samples = []
        for _ in range(20):
            samples.append(pool.checkedout())  # type: ignore[attr-defined]
            time.sleep(0.02)
        # Five idle listeners: at most the hub's one short poll holds a connection.
        assert max(samples) <= 1
        hub = live._hubs[api.client.portal.call(asyncio.get_running_loop)]
        assert hub.listeners == 5
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
        api.client.__exit__(None, None, None)


def test_other_owner_gets_404_and_no_key_401(api: Any) -> None:
    run_id = submit(api)
    assert api.client.get(f"/v1/runs/{run_id}/events", headers=api.b).status_code == 404
    assert api.client.get(f"/v1/runs/{run_id}/events").status_code == 401
    missing = api.client.get("/v1/runs/nope/events", headers=api.a)
    assert missing.status_code == 404 and "detail" in missing.json()


def test_bad_last_event_id_is_rejected(api: Any) -> None:
    run_id = submit(api)
    response = api.client.get(
        f"/v1/runs/{run_id}/events", headers={**api.a, "Last-Event-ID": "abc"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


def test_hub_stops_polling_without_listeners(api: Any) -> None:
    run_id = submit(api)
    RunWriter(run_id).finish("cancelled")
    read_all(api, run_id, headers=api.a)
    hubs = list(live._hubs.values())
    assert hubs and all(h.listeners == 0 for h in hubs)


def test_a_frontend_on_another_origin_can_stream(api_factory: Any) -> None:
    origin = "http://frontend.example"
    api = api_factory(cors_origins=f'["{origin}"]')
    run_id = submit(api)
    RunWriter(run_id).finish("cancelled")
    preflight = api.client.options(
        f"/v1/runs/{run_id}/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, last-event-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    headers = {**api.a, "Origin": origin}
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=headers) as response:
        assert response.headers["access-control-allow-origin"] == origin
        events = [e for e in sse(response.iter_lines()) if "comment" not in e]
    assert events[-1]["data"]["status"] == "cancelled"


def test_hub_wakes_only_listeners_whose_run_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's logic on its own: a scripted poll stands in for the database query."""
    versions: dict[str, Any] = {"r1": (1, 0), "r2": (5, 3)}
    engine: Any = object()

    async def scenario() -> None:
        hub = live.Hub(
            interval=0.01, poll=lambda _e, ids: {i: versions[i] for i in ids if i in versions}
        )
        with hub.subscribe(engine, "r1") as one, hub.subscribe(engine, "r2") as two:
            one.seen, two.seen = (1, 0), (5, 3)
            await asyncio.sleep(0.05)
            assert not one.wake.is_set() and not two.wake.is_set()  # nothing moved
            versions["r1"] = (2, 1)
            await asyncio.wait_for(one.wake.wait(), 1)
            assert not two.wake.is_set()
            del versions["r2"]  # deleted: its listener must find out
            await asyncio.wait_for(two.wake.wait(), 1)
            assert hub.listeners == 2
        await asyncio.sleep(0.05)
        assert hub.listeners == 0 and hub._task is not None and hub._task.done()

    asyncio.run(scenario())


def test_listeners_woken_together_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_fetch(*key: Any) -> Any:
        calls.append(key)
        time.sleep(0.05)
        return "batch"

    monkeypatch.setattr(live, "fetch", fake_fetch)

    async def scenario() -> list[Any]:
        hub, engine = live.Hub(), cast(Engine, object())
        same = [hub.read(engine, "r1", "alice", 7, True) for _ in range(20)]
        other = hub.read(engine, "r1", "alice", 3, True)
        return await asyncio.gather(*same, other)

    assert asyncio.run(scenario()) == ["batch"] * 21
    assert sorted(c[3] for c in calls) == [3, 7]
