"""Sweeps, second edition: random search, validation, the list, counts, early-stopping
decisions made once, and the parallel-coordinates picture."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.services import pruning
from tests.api.data import _claim, set_status, store
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body

BLOBS = run_body(BLOBS_RUN, epochs=20, validation_split=0.2)
SPACE: dict[str, Any] = {
    "optimizer.learning_rate": {"log_uniform": [1e-4, 1.0]},
    "batch_size": {"int_uniform": [8, 64]},
    "optimizer.name": ["sgd", "adam"],
    "hidden_layers": {"choice": [[4], [8, 8]]},
}
RANDOM = {"run": BLOBS, "strategy": "random", "axes": SPACE, "n_runs": 6, "seed": 42}


def create(api, body, headers=None):  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/sweeps", json=body, headers=headers or api.a)
    assert r.status_code == 202, r.text
    return r.json()


def test_a_seeded_random_search_draws_the_same_runs_twice(api) -> None:  # type: ignore[no-untyped-def]
    first, second = create(api, RANDOM), create(api, RANDOM)
    assert first["strategy"] == "random" and first["seed"] == 42 and first["axes"] == SPACE
    assert len(first["runs"]) == 6 and first["counts"] == {"queued": 6}
    assert first["epochs_saved"] == 0 and first["early_stop"] is None
    swept = [r["swept"] for r in first["runs"]]
    assert swept == [r["swept"] for r in second["runs"]]
    for run in first["runs"]:
        values, hp = run["swept"], run["hyperparameters"]
        assert list(values) == list(SPACE)
        assert hp["optimizer"]["learning_rate"] == values["optimizer.learning_rate"]
        assert hp["optimizer"]["name"] == values["optimizer.name"]
        assert hp["batch_size"] == values["batch_size"] and hp["hidden_layers"] in ([4], [8, 8])
        assert 1e-4 <= values["optimizer.learning_rate"] <= 1.0
        assert isinstance(values["batch_size"], int) and 8 <= values["batch_size"] <= 64
    assert len({r["swept"]["optimizer.learning_rate"] for r in first["runs"]}) == 6
    other = create(api, {**RANDOM, "seed": 43})
    assert [r["swept"] for r in other["runs"]] != swept


def test_grid_runs_carry_their_swept_values(api) -> None:  # type: ignore[no-untyped-def]
    body = {"run": BLOBS, "axes": {"optimizer.learning_rate": [0.1, 0.01], "batch_size": [16]}}
    sweep = create(api, body)
    assert sweep["strategy"] == "grid" and sweep["grid"] == sweep["axes"] == body["axes"]
    assert [r["swept"] for r in sweep["runs"]] == [
        {"optimizer.learning_rate": 0.1, "batch_size": 16},
        {"optimizer.learning_rate": 0.01, "batch_size": 16},
    ]


def test_search_validation(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_sweep_runs="8")

    def refused(body: dict[str, Any], loc: list[Any]) -> None:
        r = api.client.post("/v1/sweeps", json=body, headers=api.a)
        assert r.status_code == 422, (body, r.text)
        assert loc in locs(r), (loc, r.json())

    lr = "optimizer.learning_rate"
    refused({"run": BLOBS, "grid": {lr: {"log_uniform": [1e-3, 1]}}}, ["body", "grid", lr])
    refused({"run": BLOBS, "axes": {lr: {"uniform": [0.1, 1]}}}, ["body", "axes", lr])
    for space in (
        {"log_uniform": [0, 1]}, {"log_uniform": [1, 0.1]}, {"uniform": [1, 1]},
        {"uniform": [0, "x"]}, {"int_uniform": [1.5, 4]}, {"choice": []}, {"normal": [0, 1]},
        {"uniform": [0, 1], "choice": [1]}, {"uniform": [0]}, [],
    ):  # fmt: skip
        refused({**RANDOM, "axes": {lr: space}}, ["body", "axes", lr])
    refused({**RANDOM, "n_runs": 9}, ["body", "n_runs"])
    refused({key: value for key, value in RANDOM.items() if key != "n_runs"}, ["body", "n_runs"])
    refused({**RANDOM, "grid": {lr: [0.1]}}, ["body", "grid"])
    refused({"run": BLOBS, "axes": {lr: [0.1]}, "seed": 3}, ["body", "seed"])
    refused({"run": BLOBS}, ["body", "axes"])
    refused({**RANDOM, "early_stop": {"method": "hyperband"}}, ["body", "early_stop", "method"])
    refused({**RANDOM, "early_stop": {"reduction_factor": 1}},
            ["body", "early_stop", "reduction_factor"])  # fmt: skip
    refused({**RANDOM, "axes": {"momentum": [0.1]}}, ["body", "run", "hyperparameters", "momentum"])
    assert api.client.get("/v1/runs", headers=api.a).json()["items"] == []


def test_the_list_pages_newest_first_and_filters_by_status(api) -> None:  # type: ignore[no-untyped-def]
    lesson = {"run": run_body(MOVIES_RUN, epochs=5), "grid": {"learning_rate": [1e-3, 1e-4]}}
    older, newer = create(api, lesson), create(api, {**RANDOM, "n_runs": 2})
    r = api.client.get("/v1/sweeps", params={"limit": 1}, headers=api.a)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [s["id"] for s in page["items"]] == [newer["id"]] and page["next_cursor"]
    assert page["items"][0]["runs"][0]["swept"] == newer["runs"][0]["swept"]
    rest = api.client.get("/v1/sweeps", params={"cursor": page["next_cursor"]}, headers=api.a)
    assert [s["id"] for s in rest.json()["items"]] == [older["id"]]
    assert rest.json()["next_cursor"] is None
    for run in older["runs"]:
        set_status(run["id"], "succeeded")
    set_status(newer["runs"][0]["id"], "pruned")

    def ids(status: str) -> list[str]:
        r = api.client.get("/v1/sweeps", params={"status": status}, headers=api.a)
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["items"]]

    assert ids("succeeded") == [older["id"]] and ids("running") == [newer["id"]]
    assert ids("failed") == [] and ids("cancelled") == []
    listed = {s["id"]: s for s in api.client.get("/v1/sweeps", headers=api.a).json()["items"]}
    assert listed[newer["id"]]["counts"] == {"pruned": 1, "queued": 1}
    assert listed[older["id"]]["counts"] == {"succeeded": 2}
    for params in ({"sweep_id": "x"}, {"status": "pruned"}, {"cursor": "nonsense"}):
        r = api.client.get("/v1/sweeps", params=params, headers=api.a)
        assert r.status_code == 422, params
    assert locs(api.client.get("/v1/sweeps?kind=x", headers=api.a)) == [["query", "kind"]]
    assert api.client.get("/v1/sweeps", headers=api.b).json()["items"] == []


def _epochs(losses: list[float]) -> list[EpochRecord]:
    return [EpochRecord(epoch=e, loss=v, val_loss=v) for e, v in enumerate(losses)]


def test_a_pruning_decision_is_made_once_from_stored_epochs(api) -> None:  # type: ignore[no-untyped-def]
    early = {"method": "asha", "metric": "val_loss", "min_epochs": 2, "reduction_factor": 2}
    sweep = create(api, {**RANDOM, "n_runs": 3, "early_stop": early})
    assert sweep["early_stop"] == early
    a, b, c = (run["id"] for run in sweep["runs"])
    attempts = {run_id: _claim(run_id) for run_id in (a, b, c)}

    def decide(run_id: str, rung: int, attempt: int | None = None) -> bool:
        with session_factory() as session:
            stop = pruning.decide(session, run_id, attempt or attempts[run_id], rung)
            session.commit()
        return stop

    store(a, attempts[a], _epochs([1.0, 0.5, 0.4]))
    assert decide(a, 2) is False  # alone at its rung: fewer than reduction_factor arrived
    store(b, attempts[b], _epochs([1.0, 0.9, 0.8]))
    assert decide(b, 2) is True  # 2 values, keep the best 1: b is worse than a
    assert decide(b, 2, attempt=attempts[b] + 1) is True  # a retry reads the decision back
    assert decide(c, 2) is False  # c stored no epoch 2 yet: nothing to decide
    store(c, attempts[c], _epochs([1.0, 0.3, 0.2]))
    assert decide(c, 2) is False  # the best value at a rung is never pruned
    assert decide(a, 2) is False  # a's decision stands though c now beats it
    with session_factory() as session:
        assert pruning.plan(session, b) == ([2, 4, 8, 16], True)
        assert pruning.plan(session, a) == ([2, 4, 8, 16], False)


def test_the_parallel_coordinates_picture(api) -> None:  # type: ignore[no-untyped-def]
    sweep = create(api, {**RANDOM, "n_runs": 3})
    first, second, third = (run["id"] for run in sweep["runs"])
    for run_id, loss in ((first, 0.5), (second, 0.05)):
        store(run_id, _claim(run_id), _epochs([1.0, loss]))
    set_status(first, "pruned")
    set_status(third, "diverged")
    url = f"/v1/sweeps/{sweep['id']}/plots/parallel.png"
    r = api.client.get(url, params={"width": 640, "height": 400}, headers=api.a)
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (640, 400)
    again = api.client.get(
        url, params={"width": 640, "height": 400},
        headers={**api.a, "If-None-Match": r.headers["ETag"]},
    )  # fmt: skip
    assert again.status_code == 304
    assert api.client.get(url, headers=api.b).status_code == 404


def test_epochs_saved_counts_what_pruned_runs_did_not_train(api) -> None:  # type: ignore[no-untyped-def]
    sweep = create(api, {**RANDOM, "n_runs": 2})
    first = sweep["runs"][0]["id"]
    set_status(first, "pruned", progress_epoch=5)
    got = api.client.get(f"/v1/sweeps/{sweep['id']}", headers=api.a).json()
    assert got["epochs_saved"] == 20 - 5 and got["counts"] == {"pruned": 1, "queued": 1}
