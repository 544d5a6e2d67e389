"""Issue 13 items 6 and 9 on SQLite: each former 500 is a 422 naming the field (or a 409).

The PostgreSQL variants, against a real server with auth on, are tests/abuse/test_inputs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.data import set_status, train_regression_run
from tests.api.helpers import MOVIES_RUN, run_body

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HUGE = 10**20  # past SQLite's 64-bit integers
CONTROL = "control characters"


def refused(response: Any, loc: list[Any], words: str = "") -> None:
    """Assert a 422 whose first error is at `loc` (and mentions `words`)."""
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == loc and words in error["msg"], error


def test_a_400_digit_integer_in_a_json_dataset(api: Any) -> None:
    body = '{"name": "big", "columns": {"x": [1, 2], "y": [3, ' + "9" * 400 + "]}}"
    r = api.client.post(
        "/v1/datasets", content=body, headers={**api.a, "Content-Type": "application/json"}
    )
    refused(r, ["body", "columns", "y", 1], "finite")


def test_ragged_and_non_numeric_predict_rows(api: Any) -> None:
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    url = f"/v1/runs/{run_id}/predict"
    refused(api.client.post(url, json={"inputs": [[1, 2], [3]]}, headers=api.a),
            ["body", "inputs"], "row 1 has 1 values")  # fmt: skip
    r = api.client.post(url, json={"inputs": [False]}, headers=api.a)
    assert r.status_code == 422, r.text  # a boolean is no number


@pytest.mark.parametrize(
    ("hyperparameters", "loc"),
    [
        ({"batch_size": 10**30}, ["batch_size"]),
        ({"epochs": HUGE}, ["epochs"]),
        ({"init": {"a": 1e308}}, ["init", "a"]),
        ({"init": {"weights": [1e200]}}, ["init", "weights", 0]),
        ({"loss_surface": {"a": [-1.7e308, 1.7e308, 3], "b": [0, 1, 3]}}, ["loss_surface"]),
        ({"learning_rate": "0.1"}, ["learning_rate"]),
        ({"epochs": True}, ["epochs"]),
    ],
)
def test_regression_numbers_past_their_bounds(
    api: Any, hyperparameters: dict[str, Any], loc: list[Any]
) -> None:
    r = api.client.post("/v1/runs", json=run_body(MOVIES_RUN, **hyperparameters), headers=api.a)
    refused(r, ["body", "hyperparameters", *loc])


def test_data_too_large_for_a_loss_surface(api: Any) -> None:
    columns = {"x": [1e300, -1e300, 3e300], "y": [1e300, 2e300, -1e300]}
    dataset = api.client.post("/v1/datasets", json={"name": "huge", "columns": columns},
                              headers=api.a).json()  # fmt: skip
    body = {**MOVIES_RUN, "dataset_id": dataset["id"], "features": ["x"], "target": "y"}
    refused(api.client.post("/v1/runs", json=body, headers=api.a), ["body", "features"], "scale")


def test_huge_epochs_in_paths_and_queries(api: Any) -> None:
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    get = api.client.get
    refused(get(f"/v1/runs/{run_id}/history?since_epoch={HUGE}", headers=api.a),
            ["query", "since_epoch"])  # fmt: skip
    refused(get(f"/v1/runs/{run_id}/snapshots/{HUGE}", headers=api.a), ["path", "epoch"])
    refused(get(f"/v1/runs/{run_id}/plots/boundary.png?epoch={HUGE}", headers=api.a),
            ["query", "epoch"])  # fmt: skip
    refused(get(f"/v1/runs/{run_id}/events?since_epoch={HUGE}", headers=api.a),
            ["query", "since_epoch"])  # fmt: skip
    r = get(f"/v1/runs/{run_id}/events", headers={**api.a, "Last-Event-ID": str(HUGE)})
    refused(r, ["header", "Last-Event-ID"])


def test_a_sweep_contour_after_its_runs_were_deleted(api: Any) -> None:
    body = {"run": MOVIES_RUN, "grid": {"learning_rate": [1e-10, 2e-10]}}
    sweep = api.client.post("/v1/sweeps", json=body, headers=api.a).json()
    for run in sweep["runs"]:
        assert api.client.delete(f"/v1/runs/{run['id']}", headers=api.a).status_code == 204
    r = api.client.get(f"/v1/sweeps/{sweep['id']}/plots/contour.png", headers=api.a)
    assert r.status_code == 409 and "no runs left" in r.json()["detail"], r.text


def test_names_fit_their_columns_and_hold_no_control_characters(api: Any) -> None:
    post = api.client.post
    refused(post("/v1/runs", json={**MOVIES_RUN, "target": "t" * 230}, headers=api.a),
            ["body", "target"], "at most 200")  # fmt: skip
    for bad in ("a\x00b", "a\x1bb", "a\tb", "a\x7fb"):
        refused(post("/v1/runs", json={**MOVIES_RUN, "name": bad}, headers=api.a),
                ["body", "name"], CONTROL)  # fmt: skip
        refused(post("/v1/datasets", json={"name": "d", "columns": {bad: [1]}}, headers=api.a),
                ["body", "columns", bad, "[key]"], CONTROL)  # fmt: skip
        csv = f"x,{bad}\n1,2\n".encode()
        refused(post("/v1/datasets", files={"file": ("d.csv", csv, "text/csv")}, headers=api.a),
                ["file", "row 1", "column 2"], CONTROL)  # fmt: skip
    refused(api.client.get("/v1/runs/a%00b", headers=api.a), ["path", "run_id"], CONTROL)


def test_formula_cells_are_escaped_on_export(api: Any) -> None:
    columns = {"n": [-1.0, 2.0, 3.0], "label": ["=1+2", "-3", "@x"], "+h": [1, 2, 3]}
    dataset = api.client.post("/v1/datasets", json={"name": "f", "columns": columns},
                              headers=api.a).json()  # fmt: skip
    text = api.client.get(f"/v1/datasets/{dataset['id']}/data.csv", headers=api.a).text
    assert text.splitlines() == ["n,label,'+h", "-1,'=1+2,1", "2,-3,2", "3,'@x,3"]


def test_a_wrong_method_names_every_allowed_one(api: Any) -> None:
    r = api.client.put("/v1/runs", headers=api.a)
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_trained_run_reads_back_after_the_new_bounds(api: Any) -> None:
    """The bounds refuse nothing a real run stores: history, surface, CSV still answer."""
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    train_regression_run(run_id)
    assert api.client.get(f"/v1/runs/{run_id}/loss-surface", headers=api.a).status_code == 200
    r = api.client.get(f"/v1/runs/{run_id}/history?since_epoch=2147483647", headers=api.a)
    assert r.status_code == 200 and r.json()["epochs"] == []


def test_a_stored_surface_past_float64_is_a_409_not_null_axes(api: Any) -> None:
    """A run stored before the bound (a span of 3.4e308) gets a message, not null axes."""
    run = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()
    hyperparameters = {**run["hyperparameters"],
                       "loss_surface": {"a": [-1.7e308, 1.7e308, 3], "b": [0, 1, 3]}}  # fmt: skip
    set_status(run["id"], "succeeded", hyperparameters=hyperparameters)
    r = api.client.get(f"/v1/runs/{run['id']}/loss-surface", headers=api.a)
    assert r.status_code == 409 and "finite span" in r.json()["detail"], r.text
