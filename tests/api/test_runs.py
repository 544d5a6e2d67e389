"""Runs: submit (validation, defaults, routing, idempotency), list, get, cancel, delete."""

from __future__ import annotations

from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body


def test_submit_regression_fills_defaults_and_analysis(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)
    assert r.status_code == 202, r.text
    run = r.json()
    assert r.headers["Location"] == f"/v1/runs/{run['id']}"
    assert run["status"] == "queued"
    assert run["progress"] == {"epoch": None, "epochs": 50}
    hp = run["hyperparameters"]
    assert hp["learning_rate"] == 2e-10 and hp["gradient"] == "course"
    assert hp["init"] == {"a": 0.0, "b": 0.0}
    assert set(hp["loss_surface"]) == {"a", "b"}
    assert run["analysis"]["lr_verdict"] == "converges"
    assert run["analysis"]["lr_max"] > 2e-10
    assert api.enqueued == [(run["id"], "cpu")]


def test_learning_rate_verdicts(api) -> None:  # type: ignore[no-untyped-def]
    verdicts = {}
    for lr in (1e-3, 1e-12, 2e-10):
        r = api.client.post("/v1/runs", json=run_body(MOVIES_RUN, learning_rate=lr), headers=api.a)
        verdicts[lr] = r.json()["analysis"]["lr_verdict"]
    assert verdicts == {1e-3: "diverges", 1e-12: "converges", 2e-10: "converges"}


def test_submit_mlp(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/runs", json=BLOBS_RUN, headers=api.a)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["hyperparameters"]["hidden_layers"] == [40, 40]
    assert run["hyperparameters"]["optimizer"] == {
        "name": "sgd", "learning_rate": 0.01, "momentum": 0.0,
    }  # fmt: skip
    assert run["analysis"]["classes"] == [0, 1, 2]
    assert run["analysis"]["resolution"] == 100
    assert run["analysis"]["n_params"] == 2 * 40 + 40 + 40 * 40 + 40 + 40 * 3 + 3
    assert len(run["analysis"]["extent"]) == 4


def test_validation_names_the_field(api) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ({**MOVIES_RUN, "features": ["nope"]}, ["body", "features", 0]),
        ({**MOVIES_RUN, "target": "title"}, ["body", "target"]),
        ({**MOVIES_RUN, "dataset_id": "builtin:nope"}, ["body", "dataset_id"]),
        (run_body(MOVIES_RUN, momentum=0.9), ["body", "hyperparameters", "momentum"]),
        (run_body(MOVIES_RUN, learning_rate=-1), ["body", "hyperparameters", "learning_rate"]),
        (run_body(MOVIES_RUN, epochs=10**9), ["body", "hyperparameters", "epochs"]),
        (run_body(BLOBS_RUN, hidden_layers=[5000]),
         ["body", "hyperparameters", "hidden_layers", 0]),
        (run_body(BLOBS_RUN, weights="full", hidden_layers=[4096, 4096]),
         ["body", "hyperparameters", "weights"]),
        (run_body(BLOBS_RUN, snapshots={"resolution": 5000}),
         ["body", "hyperparameters", "snapshots", "resolution"]),
        ({**MOVIES_RUN, "status": "succeeded"}, ["body", "status"]),
        ({**MOVIES_RUN, "owner": "bob"}, ["body", "owner"]),
        ({**MOVIES_RUN, "kind": "svm"}, ["body", "kind"]),
    ]  # fmt: skip
    for body, loc in cases:
        r = api.client.post("/v1/runs", json=body, headers=api.a)
        assert r.status_code == 422, (body, r.text)
        assert loc in locs(r), (loc, r.json())


def test_device_routing(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(gpu_workers="true", gpu_min_samples="10000")
    small = api.client.post("/v1/runs", json=BLOBS_RUN, headers=api.a).json()
    big = api.client.post("/v1/runs", json=run_body(BLOBS_RUN, epochs=10), headers=api.a).json()
    cpu = api.client.post("/v1/runs", json={**BLOBS_RUN, "device": "cpu"}, headers=api.a).json()
    reg = api.client.post("/v1/runs", json={**MOVIES_RUN, "device": "gpu"}, headers=api.a).json()
    assert [small["queue"], big["queue"], cpu["queue"], reg["queue"]] == [
        "gpu", "gpu", "cpu", "cpu",
    ]  # fmt: skip


def test_gpu_without_gpu_workers_is_rejected(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/runs", json={**BLOBS_RUN, "device": "gpu"}, headers=api.a)
    assert r.status_code == 422 and ["body", "device"] in locs(r)


def test_idempotency_key(api) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.a, "Idempotency-Key": "same"}
    first = api.client.post("/v1/runs", json=MOVIES_RUN, headers=headers)
    again = api.client.post("/v1/runs", json=MOVIES_RUN, headers=headers)
    other = api.client.post("/v1/runs", json=run_body(MOVIES_RUN, epochs=7), headers=headers)
    theirs = api.client.post(
        "/v1/runs", json=MOVIES_RUN, headers={**api.b, "Idempotency-Key": "same"}
    )
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 409)
    assert again.json()["id"] == first.json()["id"]
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    assert len(api.enqueued) == 2


def test_list_filters_and_cursor(api) -> None:  # type: ignore[no-untyped-def]
    ids = [
        api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"] for _ in range(3)
    ]
    mlp = api.client.post("/v1/runs", json=BLOBS_RUN, headers=api.a).json()["id"]
    api.client.post(f"/v1/runs/{ids[0]}/cancel", headers=api.a)
    listed = api.client.get("/v1/runs", params={"kind": "linear_regression"}, headers=api.a)
    assert [r["id"] for r in listed.json()["items"]] == ids[::-1]
    queued = api.client.get("/v1/runs", params={"status": "queued"}, headers=api.a).json()
    assert {r["id"] for r in queued["items"]} == {ids[1], ids[2], mlp}
    first = api.client.get("/v1/runs", params={"limit": 3}, headers=api.a).json()
    rest = api.client.get(
        "/v1/runs", params={"limit": 3, "cursor": first["next_cursor"]}, headers=api.a
    ).json()
    assert [r["id"] for r in first["items"] + rest["items"]] == [mlp, *ids[::-1]]
    assert rest["next_cursor"] is None


def test_get_with_etag(api) -> None:  # type: ignore[no-untyped-def]
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    r = api.client.get(f"/v1/runs/{run_id}", headers=api.a)
    tag = r.headers["ETag"]
    again = api.client.get(f"/v1/runs/{run_id}", headers={**api.a, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag
    api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a)
    changed = api.client.get(f"/v1/runs/{run_id}", headers={**api.a, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_cancel_queued_then_conflict(api) -> None:  # type: ignore[no-untyped-def]
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    r = api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert r.json()["finished_at"] is not None
    assert api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a).status_code == 409


def test_cancel_running_sets_flag(api) -> None:  # type: ignore[no-untyped-def]
    from tests.api.data import set_status

    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    set_status(run_id, "running")
    r = api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a)
    assert r.status_code == 202
    assert r.json()["status"] == "running" and r.json()["cancel_requested"] is True


def test_delete_run(api) -> None:  # type: ignore[no-untyped-def]
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    assert api.client.delete(f"/v1/runs/{run_id}", headers=api.a).status_code == 204
    assert api.client.get(f"/v1/runs/{run_id}", headers=api.a).status_code == 404


def test_dataset_in_use_cannot_be_deleted(api) -> None:  # type: ignore[no-untyped-def]
    dataset = api.client.post(
        "/v1/datasets", json={"name": "d", "columns": {"x": [1, 2, 3], "y": [2, 4, 7]}},
        headers=api.a,
    ).json()  # fmt: skip
    body = {**MOVIES_RUN, "dataset_id": dataset["id"], "features": ["x"], "target": "y"}
    run_id = api.client.post("/v1/runs", json=body, headers=api.a).json()["id"]
    assert api.client.delete(f"/v1/datasets/{dataset['id']}", headers=api.a).status_code == 409
    api.client.post(f"/v1/runs/{run_id}/cancel", headers=api.a)
    assert api.client.delete(f"/v1/datasets/{dataset['id']}", headers=api.a).status_code == 204


def test_concurrent_run_limit(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_concurrent_runs="2")
    codes = [
        api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).status_code for _ in range(3)
    ]
    assert codes == [202, 202, 429]


def test_rate_limit(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(submit_rate_per_minute="2")
    codes = [api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a) for _ in range(3)]
    assert [r.status_code for r in codes] == [202, 202, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1
    assert api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.b).status_code == 202
