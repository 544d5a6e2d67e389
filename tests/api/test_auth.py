"""Auth and tenancy: 401 without a key, 404 (never 403) for another owner's objects."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from descent_server.db.models import ApiKey
from descent_server.db.session import session_factory
from tests.api.data import fake_mlp_run, train_regression_run
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, run_body

CSV = b"x,y\n1,2\n2,4\n3,7\n"


def test_missing_or_unknown_key_is_401(api) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        for method, url in (("GET", "/v1/runs"), ("GET", "/v1/datasets"), ("POST", "/v1/runs")):
            r = api.client.request(method, url, headers=headers, json=MOVIES_RUN)
            assert r.status_code == 401, (headers, url)
            assert isinstance(r.json()["detail"], str)


def test_revoked_key_is_401(api) -> None:  # type: ignore[no-untyped-def]
    assert api.client.get("/v1/runs", headers=api.a).status_code == 200
    with session_factory() as session:
        session.execute(
            update(ApiKey).where(ApiKey.owner == "alice").values(revoked_at=datetime.now(UTC))
        )
        session.commit()
    assert api.client.get("/v1/runs", headers=api.a).status_code == 401


def test_auth_disabled_uses_local_owner(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(auth_enabled="false")
    r = api.client.post("/v1/runs", json=MOVIES_RUN)
    assert r.status_code == 202
    assert api.client.get("/v1/runs").json()["items"][0]["id"] == r.json()["id"]


def test_other_owner_gets_404_everywhere_and_sees_nothing(api) -> None:  # type: ignore[no-untyped-def]
    a = api.a
    dataset = api.client.post(
        "/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")}, headers=a
    ).json()
    body = {**MOVIES_RUN, "dataset_id": dataset["id"], "features": ["x"], "target": "y"}
    run = api.client.post("/v1/runs", json=body, headers=a).json()
    train_regression_run(run["id"], finish=False)
    mlp = api.client.post(
        "/v1/runs", json=run_body(BLOBS_RUN, snapshots={"resolution": 10}), headers=a
    ).json()
    fake_mlp_run(mlp["id"], epochs=1)
    r, m, d = run["id"], mlp["id"], dataset["id"]
    calls = [
        ("GET", f"/v1/datasets/{d}"), ("GET", f"/v1/datasets/{d}/data.csv"),
        ("DELETE", f"/v1/datasets/{d}"),
        ("GET", f"/v1/runs/{r}"), ("POST", f"/v1/runs/{r}/cancel"),
        ("GET", f"/v1/runs/{r}/history"), ("GET", f"/v1/runs/{r}/history?format=csv"),
        ("GET", f"/v1/runs/{r}/loss-surface"), ("GET", f"/v1/runs/{r}/model"),
        ("GET", f"/v1/runs/{r}/plots/loss.png"), ("GET", f"/v1/runs/{r}/plots/fit.png"),
        ("GET", f"/v1/runs/{r}/events"),
        ("GET", f"/v1/runs/{m}/snapshots"), ("GET", f"/v1/runs/{m}/snapshots/0"),
        ("GET", f"/v1/runs/{m}/plots/boundary.png"), ("GET", f"/v1/runs/{m}/plots/boundary.gif"),
        ("DELETE", f"/v1/runs/{r}"),
    ]  # fmt: skip
    for method, url in calls:
        resp = api.client.request(method, url, headers=api.b)
        assert resp.status_code == 404, (method, url, resp.status_code)
        assert "x,y" not in resp.text and "status" not in resp.text  # no data leaks
    predict = api.client.post(f"/v1/runs/{r}/predict", json={"inputs": [1]}, headers=api.b)
    assert predict.status_code == 404
    theirs = {**body, "dataset_id": d}
    assert api.client.post("/v1/runs", json=theirs, headers=api.b).status_code == 422
    assert api.client.get("/v1/runs", headers=api.b).json()["items"] == []
    assert api.client.get("/v1/datasets", headers=api.b).json()["items"] == []
    # and alice still has everything
    assert api.client.get(f"/v1/runs/{r}", headers=a).status_code == 200
    assert len(api.client.get("/v1/runs", headers=a).json()["items"]) == 2
