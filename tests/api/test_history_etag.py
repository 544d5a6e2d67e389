"""History JSON over HTTP: ETags and 304s, the view cache, and the bytes a view is made of."""

from __future__ import annotations

import orjson

from descent_server.ml.types import EpochRecord
from descent_server.services import history as service
from tests.api.data import _claim, store
from tests.api.helpers import MOVIES_RUN, run_body
from tests.helpers.runs import records


def submit(api, body):  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/runs", json=body, headers=api.a)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_history_json_has_an_etag_and_answers_304_until_the_run_changes(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, epochs=300))
    attempt = _claim(run_id)
    store(run_id, attempt, records(0, 199))
    url = f"/v1/runs/{run_id}/history"
    for params in ({"limit": 50}, {"max_points": 20}, {}):
        first = api.client.get(url, params=params, headers=api.a)
        tag = first.headers["ETag"]
        again = api.client.get(url, params=params, headers={**api.a, "If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
        listed = {**api.a, "If-None-Match": f'W/"other", {tag}'}
        assert api.client.get(url, params=params, headers=listed).status_code == 304
        stale = api.client.get(url, params=params, headers={**api.a, "If-None-Match": '"x"'})
        assert stale.status_code == 200 and stale.content == first.content
    queries = ({"limit": 50}, {"limit": 51}, {"max_points": 20}, {"since_epoch": 3})
    tags = {api.client.get(url, params=p, headers=api.a).headers["ETag"] for p in queries}
    assert len(tags) == 4  # the query is part of the tag
    view = api.client.get(url, params={"max_points": 20}, headers=api.a)
    store(run_id, attempt, records(200, 249))  # the run moves on: old tags are stale
    moved = api.client.get(
        url, params={"max_points": 20}, headers={**api.a, "If-None-Match": view.headers["ETag"]}
    )
    assert moved.status_code == 200 and moved.headers["ETag"] != view.headers["ETag"]
    assert orjson.loads(moved.content)["epochs"][-1]["epoch"] == 249
    edited = api.client.patch(f"/v1/runs/{run_id}", json={"notes": "n"}, headers=api.a)
    assert edited.status_code == 200
    after = api.client.get(url, params={"max_points": 20}, headers=api.a)
    assert after.headers["ETag"] != moved.headers["ETag"] and after.content == moved.content
    # Another owner's If-None-Match is no way around the 404.
    hidden = api.client.get(url, headers={**api.b, "If-None-Match": "*"})
    assert hidden.status_code == 404


def test_a_view_is_served_from_the_cache_with_the_same_bytes(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api, run_body(MOVIES_RUN, epochs=300))
    store(run_id, _claim(run_id), records(0, 299))
    url = f"/v1/runs/{run_id}/history"
    cold = api.client.get(url, params={"max_points": 30}, headers=api.a)
    cached = [key for key in service.view_cache()._items if run_id in key]
    assert len(cached) == 1
    warm = api.client.get(url, params={"max_points": 30}, headers=api.a)
    assert warm.content == cold.content and warm.headers["ETag"] == cold.headers["ETag"]
    body = orjson.loads(cold.content)
    assert list(body) == ["run_id", "epochs", "next_since_epoch"]
    assert body["run_id"] == run_id and body["next_since_epoch"] is None
    page = orjson.loads(api.client.get(url, headers=api.a).content)["epochs"]
    assert body["epochs"] == [page[row["epoch"]] for row in body["epochs"]]
    since = orjson.loads(
        api.client.get(url, params={"max_points": 30, "since_epoch": 150}, headers=api.a).content
    )
    assert since["epochs"] == [row for row in body["epochs"] if row["epoch"] > 150]


def test_the_view_cache_is_bounded_by_bytes(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(history_view_cache_bytes=str(64 * 1024))
    cache = service.view_cache()
    assert cache.max_bytes == 64 * 1024
    ids = [submit(api, run_body(MOVIES_RUN, epochs=300)) for _ in range(3)]
    for run_id in ids:
        store(run_id, _claim(run_id), records(0, 299))
        api.client.get(f"/v1/runs/{run_id}/history", params={"max_points": 20}, headers=api.a)
    big = api.client.get(f"/v1/runs/{ids[0]}/history", params={"max_points": 300}, headers=api.a)
    assert len(big.content) > cache.max_bytes // 8  # too big to share the cache: not kept
    kept = list(cache._items)
    assert len(kept) == 3 and all("'view', 20" in key for key in kept)
    assert sum(len(v) for v in cache._items.values()) <= cache.max_bytes
    off = api_factory(history_view_cache_bytes="0")
    run_id = submit(off, run_body(MOVIES_RUN, epochs=300))
    store(run_id, _claim(run_id), [EpochRecord(epoch=e, loss=1.0) for e in range(50)])
    view = off.client.get(f"/v1/runs/{run_id}/history", params={"max_points": 20}, headers=off.a)
    assert view.status_code == 200 and not service.view_cache()._items
