"""Polls answered from memory (api/live.py Versions): tenancy, writes, outages, bounds.

A poll is GET /v1/runs/{id} with If-None-Match. Inside `with api.client:` every request runs
on one event loop, as in a server process, so the live hub keeps the polled versions current.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, update

from descent_server.api import live
from descent_server.db.models import Run
from descent_server.db.session import get_engine, session_factory
from tests.api.helpers import MOVIES_RUN
from tests.helpers.proxy import TcpProxy
from tests.sdk.run_writer import RunWriter

pytestmark = pytest.mark.timeout(120)
DEADLINE_S = 10.0  # generous: the bound is versions.FRESH_S, the rest is a loaded test machine


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Count the database reads of runs the hub makes (shared reads count once)."""
    calls: list[tuple[Any, ...]] = []
    real = live.fetch

    def counting(*key: Any) -> Any:
        calls.append(key)
        return real(*key)

    monkeypatch.setattr(live, "fetch", counting)
    return calls


def submit(api: Any, headers: dict[str, str]) -> str:
    response = api.client.post("/v1/runs", json=MOVIES_RUN, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def poll(api: Any, run_id: str, tag: str, headers: dict[str, str]) -> Any:
    return api.client.get(f"/v1/runs/{run_id}", headers={**headers, "If-None-Match": tag})


def poll_until(check: Callable[[], Any]) -> Any:
    """Call `check` until it returns something truthy (fail after DEADLINE_S)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    pytest.fail(f"not within {DEADLINE_S} s")


def known_runs() -> set[str]:
    """The run ids this process remembers for the current test's database."""
    engine = get_engine()
    return {run_id for e, run_id in live.KNOWN.watched() if e is engine}


def test_an_unchanged_run_is_answered_from_memory(api: Any, reads: list[Any]) -> None:
    run_id = submit(api, api.a)
    with api.client:
        first = api.client.get(f"/v1/runs/{run_id}", headers=api.a)
        tag, count = first.headers["ETag"], len(reads)
        for _ in range(5):
            again = poll(api, run_id, tag, api.a)
            assert again.status_code == 304 and again.headers["ETag"] == tag
        # A stale tag gets the stored JSON of the current version, also without a read.
        stale = poll(api, run_id, '"0"', api.a)
        assert stale.status_code == 200 and stale.headers["ETag"] == tag
        assert stale.content == first.content
        assert len(reads) == count
        # Without If-None-Match the run is always read.
        assert api.client.get(f"/v1/runs/{run_id}", headers=api.a).content == first.content
        assert len(reads) == count + 1


def test_another_owner_gets_404_never_a_304(api: Any, reads: list[Any]) -> None:
    run_id = submit(api, api.a)
    with api.client:
        tag = api.client.get(f"/v1/runs/{run_id}", headers=api.a).headers["ETag"]
        assert poll(api, run_id, tag, api.a).status_code == 304
        for _ in range(3):
            other = poll(api, run_id, tag, api.b)
            assert other.status_code == 404, other.text
            assert "ETag" not in other.headers
            assert poll(api, run_id, '"0"', api.b).status_code == 404
        # Bob's polls left Alice's entry alone: hers is still answered from memory.
        count = len(reads)
        assert poll(api, run_id, tag, api.a).status_code == 304
        assert len(reads) == count


def test_a_change_through_the_api_shows_at_once(api: Any) -> None:
    run_id = submit(api, api.a)
    with api.client:
        tag = api.client.get(f"/v1/runs/{run_id}", headers=api.a).headers["ETag"]
        assert poll(api, run_id, tag, api.a).status_code == 304
        patched = api.client.patch(f"/v1/runs/{run_id}", json={"name": "b"}, headers=api.a)
        assert patched.status_code == 200
        renamed = poll(api, run_id, tag, api.a)
        assert renamed.status_code == 200 and renamed.json()["name"] == "b"
        tag = renamed.headers["ETag"]
        assert poll(api, run_id, tag, api.a).status_code == 304
        assert api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a).status_code == 202
        cancelled = poll(api, run_id, tag, api.a)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        tag = cancelled.headers["ETag"]
        assert poll(api, run_id, tag, api.a).status_code == 304
        assert api.client.delete(f"/v1/runs/{run_id}", headers=api.a).status_code == 204
        assert poll(api, run_id, tag, api.a).status_code == 404


def test_a_change_in_the_database_shows_within_the_bound(api: Any) -> None:
    run_id = submit(api, api.a)
    writer = RunWriter(run_id)  # what a worker does, in another process
    with api.client:
        tag = api.client.get(f"/v1/runs/{run_id}", headers=api.a).headers["ETag"]
        assert poll(api, run_id, tag, api.a).status_code == 304
        writer.epochs(range(0, 3))
        moved = poll_until(lambda: (r := poll(api, run_id, tag, api.a)).status_code == 200 and r)
        assert moved.headers["ETag"] != tag
        assert moved.json()["progress"]["epoch"] == 2
        # The hub's poll saw the new version: the new tag is answered from memory again.
        assert poll(api, run_id, moved.headers["ETag"], api.a).status_code == 304
        with session_factory() as session:  # any change made elsewhere, by any writer
            session.execute(update(Run).where(Run.id == run_id).values(version=Run.version + 1))
            session.commit()
        poll_until(lambda: poll(api, run_id, moved.headers["ETag"], api.a).status_code == 200)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_outage_answers_503_not_a_stale_304(
    api_factory: Callable[..., Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long freshness bound: only the failed hub poll can explain a 503 instead of a 304.
    monkeypatch.setattr(live.KNOWN, "fresh_s", 60.0)
    url = make_url(database_url)
    with TcpProxy(url.port or 5432) as proxy:
        through = url.set(port=proxy.port).render_as_string(hide_password=False)
        api = api_factory(database_url=through, auth_enabled="false")  # no key lookups
        run_id = submit(api, {})
        with api.client:
            tag = api.client.get(f"/v1/runs/{run_id}").headers["ETag"]
            assert poll(api, run_id, tag, {}).status_code == 304
            proxy.cut()
            down = poll_until(lambda: (r := poll(api, run_id, tag, {})).status_code != 304 and r)
            assert down.status_code == 503 and "database" in down.json()["detail"]
            for _ in range(5):  # from the database until it answers again
                assert poll(api, run_id, tag, {}).status_code == 503
                time.sleep(live.POLL_INTERVAL_S)
            proxy.restore()
            poll_until(lambda: poll(api, run_id, tag, {}).status_code == 304)


def test_only_read_runs_go_in(api: Any) -> None:
    run_id = submit(api, api.a)
    with api.client:
        tag = api.client.get(f"/v1/runs/{run_id}", headers=api.a).headers["ETag"]
        for _ in range(20):  # ids that do not exist, and someone else's run
            assert poll(api, uuid.uuid4().hex, tag, api.a).status_code == 404
            assert poll(api, run_id, tag, api.b).status_code == 404
        assert known_runs() == {run_id}


ENGINE: Any = object()


def stamped(versions: live.Versions, n: int) -> None:
    for i in range(n):
        versions.remember((ENGINE, f"r{i}"), "alice", 1, b"{}", versions.stamp())


def test_the_map_keeps_the_most_recently_polled() -> None:
    versions = live.Versions(size=3)
    stamped(versions, 3)
    assert versions.fresh((ENGINE, "r0"), "alice") == (1, b"{}")  # r0 polled: r1 is oldest
    versions.remember((ENGINE, "r3"), "alice", 1, b"{}", versions.stamp())
    assert len(versions) == 3
    assert {k[1] for k in versions.watched()} == {"r0", "r2", "r3"}


def test_entries_nobody_polls_expire() -> None:
    versions = live.Versions(keep_s=0.05)
    stamped(versions, 2)
    time.sleep(0.1)
    versions.fresh((ENGINE, "r1"), "alice")  # asked again: stays
    versions.expire()
    assert [k[1] for k in versions.watched()] == ["r1"]


def test_a_read_begun_before_a_write_does_not_confirm_it() -> None:
    versions = live.Versions()
    before = versions.stamp()
    versions.forget(["r0"])  # a PATCH committed while the read was in flight
    versions.remember((ENGINE, "r0"), "alice", 1, b"{}", before)
    assert versions.fresh((ENGINE, "r0"), "alice") is None
    versions.remember((ENGINE, "r0"), "alice", 2, b"{}", versions.stamp())
    assert versions.fresh((ENGINE, "r0"), "alice") == (2, b"{}")
    assert versions.fresh((ENGINE, "r0"), "bob") is None


def test_the_hub_keeps_versions_current_and_a_failed_poll_drops_them() -> None:
    """The hub on its own: a scripted poll stands in for the database query."""
    found: dict[str, Any] = {"r0": (1, 0), "r1": (1, 0)}
    failing = [False]

    def scripted(_engine: Engine, ids: list[str]) -> dict[str, Any]:
        if failing[0]:
            raise ConnectionError("database down")
        return {i: found[i] for i in ids if i in found}

    async def scenario() -> None:
        hub = live.Hub(interval=0.01, poll=scripted, known=live.Versions(fresh_s=60))
        stamped(hub.known, 2)
        hub._start()
        found["r0"] = (2, 1)
        while hub.known.fresh((ENGINE, "r0"), "alice") != (2, None):
            await asyncio.sleep(0.01)  # the new version, and no JSON of it yet
        del found["r1"]  # deleted
        while len(hub.known) != 1:
            await asyncio.sleep(0.01)
        failing[0] = True  # r0 goes at once, long before fresh_s; then the hub stops
        while len(hub.known):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert hub._task is not None and hub._task.done()

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_read_in_flight_at_a_write_is_not_shared_with_later_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def slow_fetch(_engine: Any, run_id: str, *_: Any) -> Any:
        calls.append(run_id)
        time.sleep(0.05)
        return None

    monkeypatch.setattr(live, "fetch", slow_fetch)

    async def scenario() -> None:
        hub = live.Hub()
        before = [asyncio.ensure_future(hub.read_run(ENGINE, "r0", "alice")) for _ in range(3)]
        await asyncio.sleep(0)  # those three share one read
        hub.known.forget(["r0"])  # a PATCH committed while it was in flight
        after = [asyncio.ensure_future(hub.read_run(ENGINE, "r0", "alice")) for _ in range(3)]
        await asyncio.gather(*before, *after)

    asyncio.run(scenario())
    assert calls == ["r0", "r0"]
