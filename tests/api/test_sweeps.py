"""Sweeps: grids, limits, validation, best run, status, plots, cancel, delete, tenancy."""

from __future__ import annotations

import io

from PIL import Image

from tests.api.data import set_status, train_regression_run
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body

COURSE = run_body(MOVIES_RUN, epochs=100, init={"a": -0.75, "b": -100})
LESSON = {"run": COURSE, "grid": {"learning_rate": [0.001, 1e-12, 2e-10]}}


def create(api, body=LESSON, headers=None):  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/sweeps", json=body, headers=headers or api.a)
    assert r.status_code == 202, r.text
    return r.json()


def test_learning_rate_lesson(api) -> None:  # type: ignore[no-untyped-def]
    sweep = create(api)
    runs = sweep["runs"]
    assert [r["hyperparameters"]["learning_rate"] for r in runs] == [0.001, 1e-12, 2e-10]
    assert [r["name"] for r in runs] == [
        "learning_rate=0.001", "learning_rate=1e-12", "learning_rate=2e-10",
    ]  # fmt: skip
    assert [r["analysis"]["lr_verdict"] for r in runs] == ["diverges", "converges", "converges"]
    assert all(r["sweep_id"] == sweep["id"] for r in runs)
    assert sweep["status"] == "running" and sweep["best_run_id"] is None
    assert len(api.enqueued) == 3
    for run in runs:
        train_regression_run(run["id"])
    done = api.client.get(f"/v1/sweeps/{sweep['id']}", headers=api.a).json()
    statuses = [r["status"] for r in done["runs"]]
    assert statuses == ["diverged", "succeeded", "succeeded"]
    assert done["status"] == "succeeded"
    assert done["best_run_id"] == runs[2]["id"]  # 2e-10 learns; 1e-12 barely moves
    for name in ("loss", "contour"):
        r = api.client.get(
            f"/v1/sweeps/{sweep['id']}/plots/{name}.png",
            params={"width": 500, "height": 400},
            headers=api.a,
        )
        assert r.status_code == 200, r.text
        assert Image.open(io.BytesIO(r.content)).size == (500, 400)
        again = api.client.get(
            f"/v1/sweeps/{sweep['id']}/plots/{name}.png",
            params={"width": 500, "height": 400},
            headers={**api.a, "If-None-Match": r.headers["ETag"]},
        )
        assert again.status_code == 304


def test_grid_over_several_parameters(api) -> None:  # type: ignore[no-untyped-def]
    body = {
        "run": BLOBS_RUN,
        "grid": {
            "hidden_layers": [[8], [16, 16]],
            "optimizer.learning_rate": [0.1, 0.01],
            "batch_size": [16, 64],
        },
    }
    sweep = create(api, body)
    assert len(sweep["runs"]) == 8
    combos = {
        (tuple(hp["hidden_layers"]), hp["optimizer"]["learning_rate"], hp["batch_size"])
        for hp in (r["hyperparameters"] for r in sweep["runs"])
    }
    assert len(combos) == 8
    assert all(r["hyperparameters"]["optimizer"]["name"] == "sgd" for r in sweep["runs"])
    contour = api.client.get(f"/v1/sweeps/{sweep['id']}/plots/contour.png", headers=api.a)
    assert contour.status_code == 404


def test_limits_and_validation(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_sweep_runs="4")
    too_many = {"run": COURSE, "grid": {"learning_rate": [0.1, 0.2, 0.3], "epochs": [1, 2]}}
    r = api.client.post("/v1/sweeps", json=too_many, headers=api.a)
    assert r.status_code == 422 and ["body", "grid"] in locs(r)
    bad = {"run": COURSE, "grid": {"learning_rate": [0.1, -1]}}
    r = api.client.post("/v1/sweeps", json=bad, headers=api.a)
    assert r.status_code == 422
    assert ["body", "run", "hyperparameters", "learning_rate"] in locs(r)
    assert "learning_rate=-1" in r.json()["detail"][0]["msg"]
    unknown = {"run": COURSE, "grid": {"momentum": [0.1]}}
    assert api.client.post("/v1/sweeps", json=unknown, headers=api.a).status_code == 422
    for grid in ({}, {"learning_rate": []}, {"learning_rate": 0.1}):
        r = api.client.post("/v1/sweeps", json={"run": COURSE, "grid": grid}, headers=api.a)
        assert r.status_code == 422, grid
    assert api.client.get("/v1/runs", headers=api.a).json()["items"] == []


def test_cancel_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    sweep = create(api)
    set_status(sweep["runs"][0]["id"], "running")
    r = api.client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=api.a)
    assert r.status_code == 202
    statuses = [(run["status"], run["cancel_requested"]) for run in r.json()["runs"]]
    assert statuses == [("running", True), ("cancelled", True), ("cancelled", True)]
    set_status(sweep["runs"][0]["id"], "cancelled")
    done = api.client.get(f"/v1/sweeps/{sweep['id']}", headers=api.a).json()
    assert done["status"] == "cancelled"
    assert api.client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=api.a).status_code == 409
    assert api.client.delete(f"/v1/sweeps/{sweep['id']}", headers=api.a).status_code == 204
    assert api.client.get(f"/v1/sweeps/{sweep['id']}", headers=api.a).status_code == 404
    for run in sweep["runs"]:
        assert api.client.get(f"/v1/runs/{run['id']}", headers=api.a).status_code == 404


def test_tenancy(api) -> None:  # type: ignore[no-untyped-def]
    sweep_id = create(api)["id"]
    for method, path in (
        ("GET", ""), ("POST", "/cancel"), ("GET", "/plots/loss.png"), ("DELETE", ""),
    ):  # fmt: skip
        r = api.client.request(method, f"/v1/sweeps/{sweep_id}{path}", headers=api.b)
        assert r.status_code == 404, (method, path)
    assert api.client.get("/v1/runs", headers=api.b).json()["items"] == []


def test_sweep_counts_against_rate_limit(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(submit_rate_per_minute="4")
    create(api)
    r = api.client.post("/v1/sweeps", json=LESSON, headers=api.a)
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_sweep_counts_once_against_concurrent_runs(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_concurrent_runs="2")
    assert len(create(api)["runs"]) == 3
    r = api.client.post("/v1/sweeps", json=LESSON, headers=api.a)
    assert r.status_code == 429
