"""Across runs: PATCH metadata, list filters and sorts, clone, compare (and its plot)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.repository import leases
from tests.api.data import _claim, store
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body


def submit(api: Any, body: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Submit a run as alice and return it."""
    r = api.client.post("/v1/runs", json={**(body or MOVIES_RUN), **fields}, headers=api.a)
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def finish(run_id: str, losses: list[float], val: list[float] | None = None) -> None:
    """Store one epoch per loss (validation loss too when given) and finish the run."""
    attempt = _claim(run_id)
    store(
        run_id,
        attempt,
        [
            EpochRecord(epoch=e, loss=loss, val_loss=None if val is None else val[e])
            for e, loss in enumerate(losses)
        ],
    )
    with session_factory() as session:
        assert leases.finish(session, run_id, attempt, "succeeded", result={})
        session.commit()


def listed(api: Any, **params: Any) -> list[str]:
    """Return the ids of alice's runs listed with these query parameters."""
    r = api.client.get("/v1/runs", params=params, headers=api.a)
    assert r.status_code == 200, r.text
    return [run["id"] for run in r.json()["items"]]


def test_run_has_the_new_fields(api) -> None:  # type: ignore[no-untyped-def]
    run = submit(api)
    assert run["tags"] == [] and run["notes"] is None and run["parent_run_id"] is None
    assert run["duration_s"] is None and run["sweep_id"] is None
    assert run["dataset_name"] == "movies"
    finish(run["id"], [3.0, 2.0])
    done = api.client.get(f"/v1/runs/{run['id']}", headers=api.a).json()
    assert done["duration_s"] is not None and done["duration_s"] >= 0


def test_uploaded_dataset_name_is_shown_on_its_runs(api) -> None:  # type: ignore[no-untyped-def]
    columns = {"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.1, 5.9, 8.2]}
    dataset = api.client.post(
        "/v1/datasets", json={"name": "tiny line", "columns": columns}, headers=api.a
    ).json()
    run = submit(api, dataset_id=dataset["id"], features=["x"], target="y")
    assert run["dataset_name"] == "tiny line"


def test_patch_name_tags_notes(api) -> None:  # type: ignore[no-untyped-def]
    run = submit(api, name="first")
    tag = api.client.get(f"/v1/runs/{run['id']}", headers=api.a).headers["ETag"]
    r = api.client.patch(
        f"/v1/runs/{run['id']}",
        json={"tags": ["baseline", "lr", "baseline"], "notes": "line one\nline two"},
        headers=api.a,
    )
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["baseline", "lr"] and r.json()["notes"] == "line one\nline two"
    assert r.json()["name"] == "first"  # left out: unchanged
    after = api.client.get(f"/v1/runs/{run['id']}", headers={**api.a, "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["ETag"] != tag
    cleared = api.client.patch(
        f"/v1/runs/{run['id']}", json={"name": "renamed", "notes": None}, headers=api.a
    ).json()
    assert cleared["name"] == "renamed" and cleared["notes"] is None
    assert cleared["tags"] == ["baseline", "lr"]


def test_patch_a_final_run(api) -> None:  # type: ignore[no-untyped-def]
    run = submit(api)
    finish(run["id"], [1.0])
    r = api.client.patch(f"/v1/runs/{run['id']}", json={"tags": ["done"]}, headers=api.a)
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
    assert r.json()["tags"] == ["done"]


def test_patch_errors(api) -> None:  # type: ignore[no-untyped-def]
    run_id = submit(api)["id"]
    url = f"/v1/runs/{run_id}"
    cases = [
        ({"status": "succeeded"}, ["body", "status"]),
        ({"tags": [""]}, ["body", "tags", 0]),
        ({"tags": ["x" * 51]}, ["body", "tags", 0]),
        ({"tags": ["a\x00b"]}, ["body", "tags", 0]),
        ({"tags": [f"t{i}" for i in range(21)]}, ["body", "tags"]),
        ({"tags": "x"}, ["body", "tags"]),
        ({"notes": "x" * 10_001}, ["body", "notes"]),
        ({"notes": "bell\x07"}, ["body", "notes"]),
        ({"name": ""}, ["body", "name"]),
    ]
    for body, loc in cases:
        r = api.client.patch(url, json=body, headers=api.a)
        assert r.status_code == 422, (body, r.text)
        assert loc in locs(r), (body, r.json())
    assert api.client.patch(url, json={"tags": ["x"]}, headers=api.b).status_code == 404


def test_list_filters(api) -> None:  # type: ignore[no-untyped-def]
    a = submit(api, name="Adam fast")
    b = submit(api, name="sgd slow")
    c = submit(api, BLOBS_RUN, name="adam deep")
    api.client.patch(f"/v1/runs/{a['id']}", json={"tags": ["x", "y"]}, headers=api.a)
    api.client.patch(f"/v1/runs/{b['id']}", json={"tags": ["x"]}, headers=api.a)
    assert listed(api, tag="x") == [b["id"], a["id"]]
    assert listed(api, tag=["x", "y"]) == [a["id"]]
    assert listed(api, tag="z") == []
    assert listed(api, q="ADAM") == [c["id"], a["id"]]
    assert listed(api, q="%") == [] and listed(api, q="_") == []
    assert listed(api, dataset_id="builtin:three-blobs") == [c["id"]]
    assert listed(api, sweep_id="nope") == []
    assert listed(api, kind="linear_regression", q="slow") == [b["id"]]
    created = datetime.fromisoformat(b["created_at"].replace("Z", "+00:00"))
    assert listed(api, created_after=(created - timedelta(microseconds=1)).isoformat()) == [
        c["id"], b["id"],
    ]  # fmt: skip
    assert listed(api, created_before=created.isoformat()) == [a["id"]]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert listed(api, created_after=future) == []
    # Bob sees none of alice's runs, whatever the filter.
    r = api.client.get("/v1/runs", params={"tag": "x"}, headers=api.b)
    assert r.json()["items"] == []


def test_unknown_query_parameters_and_sort_keys_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    for url, params, name in [
        ("/v1/runs", {"sweep": "x"}, "sweep"),
        ("/v1/runs", {"tags": "x"}, "tags"),
        ("/v1/datasets", {"q": "x"}, "q"),
        ("/v1/runs/compare", {"ids": "a,b", "sort": "x"}, "sort"),
    ]:
        r = api.client.get(url, params=params, headers=api.a)
        assert r.status_code == 422, (url, r.text)
        assert locs(r) == [["query", name]], r.json()
        assert name in r.json()["detail"][0]["msg"]
    for sort in ("name", "-metrics.nope", "metrics.", "--created_at", "duration"):
        r = api.client.get("/v1/runs", params={"sort": sort}, headers=api.a)
        assert r.status_code == 422 and locs(r) == [["query", "sort"]], (sort, r.text)


def test_sort_by_metric_and_duration_with_nulls_last(api) -> None:  # type: ignore[no-untyped-def]
    losses = {"a": 0.5, "b": 0.1, "c": 0.9, "d": 0.1}
    ids = {}
    for name, loss in losses.items():
        ids[name] = submit(api, name=name)["id"]
        finish(ids[name], [loss * 2, loss])
    live = submit(api, name="live")["id"]
    by_loss = listed(api, sort="metrics.loss")
    tie = sorted([ids["b"], ids["d"]])
    assert by_loss == [*tie, ids["a"], ids["c"], live]
    assert listed(api, sort="-metrics.loss") == [ids["c"], ids["a"], *tie[::-1], live]
    assert listed(api, sort="duration_s")[-1] == live
    assert listed(api, sort="-duration_s")[-1] == live
    assert listed(api, sort="created_at") == [*ids.values(), live]
    assert listed(api, sort="metrics.val_accuracy") == sorted([*ids.values(), live])


def test_keyset_pages_follow_any_sort(api) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for i, loss in enumerate([0.3, 0.1, 0.3, 0.2, 0.3]):
        ids.append(submit(api, name=f"r{i}")["id"])
        finish(ids[-1], [loss])
    ids.append(submit(api, name="live")["id"])
    for sort in ("metrics.loss", "-metrics.loss", "-duration_s", "created_at", "-created_at"):
        whole = listed(api, sort=sort, limit=500)
        paged: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = api.client.get("/v1/runs", params=params, headers=api.a).json()
            paged += [run["id"] for run in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == whole and sorted(paged) == sorted(ids), sort
    cursor = api.client.get(
        "/v1/runs", params={"sort": "metrics.loss", "limit": 1}, headers=api.a
    ).json()["next_cursor"]
    for sort in ("-metrics.loss", "-created_at"):
        r = api.client.get("/v1/runs", params={"sort": sort, "cursor": cursor}, headers=api.a)
        assert r.status_code == 422 and locs(r) == [["query", "cursor"]], r.text


def test_clone_with_dotted_override(api) -> None:  # type: ignore[no-untyped-def]
    parent = submit(api, BLOBS_RUN, name="base")
    r = api.client.post(
        f"/v1/runs/{parent['id']}/clone",
        json={"hyperparameters": {"optimizer.learning_rate": 0.1, "epochs": 7}},
        headers=api.a,
    )
    assert r.status_code == 202, r.text
    child = r.json()
    assert r.headers["Location"] == f"/v1/runs/{child['id']}"
    assert child["parent_run_id"] == parent["id"] and child["name"] == "base (clone)"
    assert child["status"] == "queued" and child["progress"]["epochs"] == 7
    hp = child["hyperparameters"]
    assert hp["optimizer"] == {**parent["hyperparameters"]["optimizer"], "learning_rate": 0.1}
    assert hp["hidden_layers"] == parent["hyperparameters"]["hidden_layers"]
    assert (child["id"], "cpu") in api.enqueued
    named = api.client.post(
        f"/v1/runs/{parent['id']}/clone",
        json={"name": "other", "hyperparameters": {"optimizer": {"name": "adam"}}},
        headers=api.a,
    ).json()
    assert named["name"] == "other" and named["hyperparameters"]["optimizer"]["name"] == "adam"


def test_clone_onto_another_dataset(api) -> None:  # type: ignore[no-untyped-def]
    columns = {"num_want_to_see": [1.0, 2.0, 3.0], "nums_audience": [10.0, 20.0, 31.0]}
    dataset = api.client.post(
        "/v1/datasets", json={"name": "mine", "columns": columns}, headers=api.a
    ).json()
    parent = submit(api)
    child = api.client.post(
        f"/v1/runs/{parent['id']}/clone", json={"dataset_id": dataset["id"]}, headers=api.a
    ).json()
    assert child["dataset_id"] == dataset["id"] and child["dataset_name"] == "mine"


def test_clone_errors(api) -> None:  # type: ignore[no-untyped-def]
    parent = submit(api, BLOBS_RUN)
    url = f"/v1/runs/{parent['id']}/clone"
    cases = [
        ({"hyperparameters": {"optimizer.learning_rate": -1}},
         ["body", "hyperparameters", "optimizer", "learning_rate"]),
        ({"hyperparameters": {"optimizer.nope": 1}},
         ["body", "hyperparameters", "optimizer", "nope"]),
        ({"hyperparameters": {"hidden_layers": [5000]}},
         ["body", "hyperparameters", "hidden_layers", 0]),
        ({"hyperparameters": {"optimizer..learning_rate": 1}},
         ["body", "hyperparameters", "optimizer..learning_rate"]),
        ({"dataset_id": "builtin:nope"}, ["body", "dataset_id"]),
        ({"kind": "linear_regression"}, ["body", "kind"]),
    ]  # fmt: skip
    for body, loc in cases:
        r = api.client.post(url, json=body, headers=api.a)
        assert r.status_code == 422, (body, r.text)
        assert loc in locs(r), (body, r.json())
    assert api.client.post(url, json={}, headers=api.b).status_code == 404
    assert api.client.post("/v1/runs/nope/clone", json={}, headers=api.a).status_code == 404


def test_clone_counts_against_capacity(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_concurrent_runs="1")
    parent = submit(api)
    r = api.client.post(f"/v1/runs/{parent['id']}/clone", json={}, headers=api.a)
    assert r.status_code == 429, r.text


def test_compare(api) -> None:  # type: ignore[no-untyped-def]
    a = submit(api, BLOBS_RUN, name="sgd")
    b = api.client.post(
        f"/v1/runs/{a['id']}/clone",
        json={"name": "adam", "hyperparameters": {"optimizer": {"name": "adam"}}},
        headers=api.a,
    ).json()
    c = submit(api, run_body(MOVIES_RUN, epochs=5), name="line")
    finish(a["id"], [1.0, 0.5], val=[1.1, 0.6])
    r = api.client.get("/v1/runs/compare", params={"ids": f"{a['id']},{b['id']}"}, headers=api.a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [run["id"] for run in body["runs"]] == [a["id"], b["id"]]
    assert body["differs"]["optimizer.name"] == ["sgd", "adam"]
    assert "hidden_layers" not in body["differs"] and "kind" not in body["differs"]
    assert body["metrics"]["loss"] == [0.5, None]
    assert body["metrics"]["val_loss"] == [0.6, None]
    mixed = api.client.get(
        "/v1/runs/compare", params={"ids": f"{c['id']},{a['id']}"}, headers=api.a
    ).json()
    assert mixed["differs"]["kind"] == ["linear_regression", "mlp_classifier"]
    assert mixed["differs"]["dataset_id"] == ["builtin:movies", "builtin:three-blobs"]
    assert mixed["differs"]["learning_rate"][0] == 2e-10


def test_compare_errors(api) -> None:  # type: ignore[no-untyped-def]
    a, b = submit(api)["id"], submit(api)["id"]
    theirs = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.b).json()["id"]
    for ids in (a, f"{a},{a}", ",".join([a] * 21), ""):
        r = api.client.get("/v1/runs/compare", params={"ids": ids}, headers=api.a)
        assert r.status_code == 422 and locs(r) == [["query", "ids"]], (ids, r.text)
    for ids in (f"{a},{theirs}", f"{a},{b},nope"):
        r = api.client.get("/v1/runs/compare", params={"ids": ids}, headers=api.a)
        assert r.status_code == 404, r.text
    assert api.client.get("/v1/runs/compare", headers=api.a).status_code == 422


def test_compare_loss_plot(api) -> None:  # type: ignore[no-untyped-def]
    a = submit(api, name="one")["id"]
    b = submit(api, name="two")["id"]
    finish(a, [3.0, 2.0, 1.0], val=[3.5, 2.5, 1.5])
    finish(b, [4.0, 3.0, 2.5])
    url = "/v1/runs/compare/plots/loss.png"
    params = {"ids": f"{a},{b}", "width": 640, "height": 480}
    r = api.client.get(url, params=params, headers=api.a)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (640, 480)
    again = api.client.get(
        url, params=params, headers={**api.a, "If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304
    live = submit(api, name="live")["id"]  # no epochs yet: drawn as no line
    assert api.client.get(url, params={"ids": f"{a},{live}"}, headers=api.a).status_code == 200
    big = api.client.get(url, params={"ids": f"{a},{b}", "width": 5000}, headers=api.a)
    assert big.status_code == 422
    assert api.client.get(url, params={"ids": a}, headers=api.a).status_code == 422
    assert api.client.get(url, params={"ids": f"{a},{b}"}, headers=api.b).status_code == 404


def test_identical_upload_returns_your_dataset(api) -> None:  # type: ignore[no-untyped-def]
    csv = b"x,y\n1,2\n3,4\n5,7\n"

    def upload(headers: dict[str, str], **params: str) -> Any:
        files = {"file": ("points.csv", csv, "text/csv")}
        return api.client.post("/v1/datasets", files=files, params=params, headers=headers)

    first = upload(api.a)
    assert first.status_code == 201, first.text
    again = upload(api.a)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == f"/v1/datasets/{first.json()['id']}"
    copy = upload(api.a, dedupe="false")
    assert copy.status_code == 201 and copy.json()["id"] != first.json()["id"]
    theirs = upload(api.b)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    body = {"name": "cols", "columns": {"x": [1.0, 2.0], "y": [3.0, 4.5]}}
    made = api.client.post("/v1/datasets", json=body, headers=api.a)
    same = api.client.post("/v1/datasets", json={**body, "name": "other"}, headers=api.a)
    assert (made.status_code, same.status_code) == (201, 200)
    assert same.json()["id"] == made.json()["id"] and same.json()["name"] == "cols"
    for params, name in (({"dedupe": "maybe"}, "dedupe"), ({"dedup": "false"}, "dedup")):
        r = upload(api.a, **params)
        assert r.status_code == 422 and locs(r) == [["query", name]], r.text
