"""Learning-rate range tests over HTTP: validation, the worker's side run in process, the
picture, owner scoping, a lost worker, and the sweep axis around a suggestion."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import update

from descent_server.api.deps import get_lr_range_enqueue as get_enqueue
from descent_server.db.models import LrRangeTest
from descent_server.db.session import session_factory
from descent_server.services import lr_range_tests as service
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body

COURSE_MLP = run_body(BLOBS_RUN, hidden_layers=[40, 40], epochs=20, seed=100)
URL = "/v1/lr-range-tests"


def capture(api) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Make the app record range-test enqueues instead of sending them to a broker."""
    sent: list[tuple[str, str]] = []
    api.client.app.dependency_overrides[get_enqueue] = lambda: (
        lambda test_id, queue: sent.append((test_id, queue))
    )
    return sent


def submit(api, run: dict[str, Any], **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = api.client.post(URL, json={"run": run, **fields}, headers=api.a)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"{URL}/{r.json()['id']}"
    return r.json()  # type: ignore[no-any-return]


def run_worker(test_id: str) -> str | None:
    """Do what the worker's task does, in this process."""
    return service.run_test(session_factory=session_factory, test_id=test_id)


def test_a_range_test_runs_reads_and_draws(api) -> None:  # type: ignore[no-untyped-def]
    sent = capture(api)
    test = submit(api, COURSE_MLP, min_lr=1e-7, max_lr=10, steps=100)
    assert test["status"] == "queued" and test["points"] == [] and sent == [(test["id"], "cpu")]
    assert test["run"]["hyperparameters"]["optimizer"]["name"] == "sgd"  # filled
    assert test["run"]["hyperparameters"]["hidden_layers"] == [40, 40]
    assert api.client.get(f"{URL}/{test['id']}", headers=api.b).status_code == 404
    early = api.client.get(f"{URL}/{test['id']}/plots/loss.png", headers=api.a)
    assert early.status_code == 409
    assert run_worker(test["id"]) == "succeeded"
    assert run_worker(test["id"]) is None  # a redelivered message does nothing
    done = api.client.get(f"{URL}/{test['id']}", headers=api.a).json()
    assert done["status"] == "succeeded" and done["rule"] == "steepest"
    assert 50 < len(done["points"]) <= 100 and done["points"][0]["learning_rate"] == 1e-7
    assert 1e-3 < done["suggested_learning_rate"] < 1 and done["finished_at"] is not None
    png = api.client.get(
        f"{URL}/{test['id']}/plots/loss.png", params={"width": 400, "height": 300}, headers=api.a
    )
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (400, 300)
    assert api.client.get(f"{URL}/{test['id']}/plots/loss.png", headers=api.b).status_code == 404
    listed = api.client.get(URL, headers=api.a).json()
    assert [t["id"] for t in listed["items"]] == [test["id"]]
    assert api.client.get(URL, headers=api.b).json()["items"] == []


def test_the_regression_suggestion_stays_below_lr_max(api) -> None:  # type: ignore[no-untyped-def]
    capture(api)
    test = submit(api, MOVIES_RUN, min_lr=1e-14, max_lr=1e-6, steps=100)
    assert run_worker(test["id"]) == "succeeded"
    done = api.client.get(f"{URL}/{test['id']}", headers=api.a).json()
    run = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()
    assert done["lr_max"] == run["analysis"]["lr_max"]
    assert 0 < done["suggested_learning_rate"] <= run["analysis"]["lr_max"]


def test_range_tests_are_validated_like_runs(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_run_cost="1e8")
    capture(api)

    def refused(body: dict[str, Any]) -> list[list[Any]]:
        r = api.client.post(URL, json=body, headers=api.a)
        assert r.status_code == 422, r.text
        return locs(r)

    blobs = run_body(BLOBS_RUN, epochs=1)
    assert refused({"run": blobs, "min_lr": 1, "max_lr": 0.5}) == [["body", "max_lr"]]
    assert ["body", "steps"] in refused({"run": blobs, "steps": 5})
    assert ["body", "steps"] in refused({"run": blobs, "steps": 10_001})
    assert ["body", "steps"] in refused({"run": blobs, "steps": 10_000})  # the cost bound
    missing = {**blobs, "dataset_id": "no-such-dataset"}
    assert refused({"run": missing}) == [["body", "run", "dataset_id"]]
    wide = run_body(BLOBS_RUN, hidden_layers=[10**6])
    assert refused({"run": wide})[0][:4] == ["body", "run", "hyperparameters", "hidden_layers"]
    submit(api, blobs, steps=100)


def test_a_test_a_lost_worker_left_is_failed_when_read(api) -> None:  # type: ignore[no-untyped-def]
    capture(api)
    test = submit(api, MOVIES_RUN)
    long_ago = datetime.now(UTC) - timedelta(seconds=service.QUEUED_TIMEOUT_S + 60)
    with session_factory() as session:
        session.execute(
            update(LrRangeTest).where(LrRangeTest.id == test["id"]).values(created_at=long_ago)
        )
        session.commit()
    read = api.client.get(f"{URL}/{test['id']}", headers=api.a).json()
    assert read["status"] == "failed" and read["error"]["code"] == "worker_lost"
    assert run_worker(test["id"]) is None  # its message, if it ever comes, does nothing


def test_a_sweep_around_a_suggestion(api) -> None:  # type: ignore[no-untyped-def]
    capture(api)
    test = submit(api, COURSE_MLP, steps=100)
    around = {"optimizer.learning_rate": {"around": test["id"]}}
    body = {"run": COURSE_MLP, "axes": around}
    early = api.client.post("/v1/sweeps", json=body, headers=api.a)
    assert early.status_code == 409, early.text
    run_worker(test["id"])
    suggested = api.client.get(f"{URL}/{test['id']}", headers=api.a).json()[
        "suggested_learning_rate"
    ]
    grid = api.client.post("/v1/sweeps", json=body, headers=api.a)
    assert grid.status_code == 202, grid.text
    values = grid.json()["axes"]["optimizer.learning_rate"]
    assert len(values) == 5 and values == sorted(values)
    assert values[0] == float(f"{suggested / 10:.4g}") and values[-1] == float(
        f"{suggested * 3:.4g}"
    )
    random = {**body, "strategy": "random", "n_runs": 3, "seed": 1}
    drawn = api.client.post("/v1/sweeps", json=random, headers=api.a).json()
    assert drawn["axes"]["optimizer.learning_rate"] == {
        "log_uniform": [suggested / 10, suggested * 3]
    }
    for run in drawn["runs"]:
        assert (
            suggested / 10
            <= run["hyperparameters"]["optimizer"]["learning_rate"]
            <= (suggested * 3)
        )
    wrong = {"run": COURSE_MLP, "axes": {"batch_size": {"around": test["id"]}}}
    r = api.client.post("/v1/sweeps", json=wrong, headers=api.a)
    assert r.status_code == 422 and locs(r) == [["body", "axes", "batch_size"]]
    regression = {"run": MOVIES_RUN, "axes": {"learning_rate": {"around": test["id"]}}}
    r = api.client.post("/v1/sweeps", json=regression, headers=api.a)
    assert r.status_code == 422 and locs(r) == [["body", "axes", "learning_rate"]]
    assert api.client.post("/v1/sweeps", json=body, headers=api.b).status_code == 404
