"""Issue 13 items 6 and 9 (CSV cells, database clock): hostile input against a real server.

Each input that answered 500 (and dropped the connection) now answers a fast 422 naming the
field, or 409/404 with a message, on PostgreSQL with auth on, while /healthz keeps answering.
Control characters are refused in every user string; formula-looking CSV cells are escaped
on export. The SQLite variants are in tests/api/test_validation.py; the database clock of the
lease is tested in tests/store/test_leases.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.abuse.health import HealthWatch
from tests.faults.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# Many refused uploads and submits in a minute: the rate limits have tests of their own.
API_KNOBS = {"upload_rate_per_minute": "100000", "submit_rate_per_minute": "100000"}
REFUSAL_BUDGET_S = 2.0  # a validation error is answered at once
HUGE = 10**20  # past SQLite's 64-bit integers, PostgreSQL's bigint and int4 alike
BLOBS = {"x1": [0.0, 1.0, 0.0, 1.0, 0.5, 0.2], "x2": [0.0, 0.0, 1.0, 1.0, 0.5, 0.8],
         "label": ["a", "b", "b", "a", "a", "b"]}  # fmt: skip


@pytest.fixture(scope="module")
def watched(abuse_stack: Stack) -> Iterator[Stack]:
    """The stack, with /healthz watched over the whole module (checked at the end)."""
    assert abuse_stack.api is not None
    with HealthWatch(abuse_stack.api.url) as watch:
        yield abuse_stack
    watch.assert_healthy()


def refused(response: httpx.Response, loc: list[Any], words: str = "") -> None:
    """Assert a fast 422 whose first error is at `loc` (and mentions `words`)."""
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == loc, error
    assert words in error["msg"], error
    assert response.elapsed.total_seconds() < REFUSAL_BUDGET_S


def regression(stack: Stack, **changes: Any) -> dict[str, Any]:
    """Return a run request on the stack's regression dataset, with top-level `changes`."""
    return {**stack.body(), **changes}


def test_a_400_digit_integer_in_a_json_dataset(watched: Stack) -> None:
    columns = {"x": [1, 2], "y": [3, int("9" * 400)]}
    r = watched.http.post("/v1/datasets", json={"name": "big", "columns": columns})
    refused(r, ["body", "columns", "y", 1], "finite")


def test_ragged_predict_rows(watched: Stack) -> None:
    run_id = watched.submit()
    r = watched.http.post(f"/v1/runs/{run_id}/predict", json={"inputs": [[1, 2], [3]]})
    refused(r, ["body", "inputs"], "row 1 has 1 values")


@pytest.mark.parametrize(
    ("hyperparameters", "loc"),
    [
        ({"batch_size": 1e30}, ["batch_size"]),
        ({"batch_size": 10**30}, ["batch_size"]),
        ({"epochs": 10**30}, ["epochs"]),
        ({"init": {"a": 1e308}}, ["init", "a"]),
        ({"init": {"a": 1.0, "b": -1e300}}, ["init", "b"]),
        ({"loss_surface": {"a": [-1.7e308, 1.7e308, 3], "b": [0, 1, 3]}}, ["loss_surface"]),
        ({"loss_surface": {"a": [0, 1, HUGE], "b": [0, 1, 3]}}, ["loss_surface", "a", 2]),
        ({"learning_rate": "0.1"}, ["learning_rate"]),
    ],
)
def test_regression_numbers_past_their_bounds(
    watched: Stack, hyperparameters: dict[str, Any], loc: list[Any]
) -> None:
    r = watched.http.post("/v1/runs", json=watched.body(**hyperparameters))
    refused(r, ["body", "hyperparameters", *loc])


def test_mlp_numbers_past_their_bounds(watched: Stack) -> None:
    dataset = watched.http.post("/v1/datasets", json={"name": "blobs", "columns": BLOBS})
    assert dataset.status_code == 201, dataset.text
    body = {"kind": "mlp_classifier", "dataset_id": dataset.json()["id"],
            "features": ["x1", "x2"], "target": "label"}  # fmt: skip
    for hyperparameters, loc in (
        ({"snapshots": {"every": 10**30}}, ["snapshots", "every"]),
        ({"snapshots": {"every": 1e30}}, ["snapshots", "every"]),
        ({"hidden_layers": [HUGE]}, ["hidden_layers", 0]),
        ({"batch_size": HUGE}, ["batch_size"]),
    ):
        r = watched.http.post("/v1/runs", json={**body, "hyperparameters": hyperparameters})
        refused(r, ["body", "hyperparameters", *loc])


def test_huge_epoch_numbers_in_paths_and_queries(watched: Stack) -> None:
    run_id = watched.submit()
    refused(watched.http.get(f"/v1/runs/{run_id}/history", params={"since_epoch": HUGE}),
            ["query", "since_epoch"])  # fmt: skip
    refused(watched.http.get(f"/v1/runs/{run_id}/history", params={"limit": HUGE}),
            ["query", "limit"])  # fmt: skip
    refused(watched.http.get(f"/v1/runs/{run_id}/snapshots/{HUGE}"), ["path", "epoch"])
    refused(watched.http.get(f"/v1/runs/{run_id}/plots/boundary.png", params={"epoch": HUGE}),
            ["query", "epoch"])  # fmt: skip
    refused(watched.http.get(f"/v1/runs/{run_id}/events", params={"since_epoch": HUGE}),
            ["query", "since_epoch"])  # fmt: skip


def test_a_sweep_contour_after_its_runs_were_deleted(watched: Stack) -> None:
    body = {"run": watched.body(epochs=5), "grid": {"learning_rate": [1e-3, 2e-3]}}
    sweep = watched.http.post("/v1/sweeps", json=body)
    assert sweep.status_code == 202, sweep.text
    for run in sweep.json()["runs"]:
        assert watched.http.delete(f"/v1/runs/{run['id']}").status_code == 204
    r = watched.http.get(f"/v1/sweeps/{sweep.json()['id']}/plots/contour.png")
    assert r.status_code == 409, r.text
    assert "no runs left" in r.json()["detail"]


def test_a_target_longer_than_its_column(watched: Stack) -> None:
    long_name = "t" * 230  # allowed by max_field_length (256), not by the String(200) column
    r = watched.http.post("/v1/runs", json=regression(watched, target=long_name))
    refused(r, ["body", "target"], "at most 200")
    columns = {"x": [1.0, 2.0], long_name: [1.0, 2.0]}
    r = watched.http.post("/v1/datasets", json={"name": "long", "columns": columns})
    refused(r, ["body", "columns", long_name, "[key]"], "at most 200")


CONTROL = "control characters"


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\n", "\t", "\x7f"])
def test_control_characters_in_every_user_string(watched: Stack, char: str) -> None:
    post = watched.http.post
    bad = f"a{char}b"
    refused(post("/v1/runs", json=regression(watched, name=bad)), ["body", "name"], CONTROL)
    refused(post("/v1/runs", json=regression(watched, target=bad)), ["body", "target"], CONTROL)
    refused(post("/v1/runs", json=regression(watched, features=[bad])),
            ["body", "features", 0], CONTROL)  # fmt: skip
    refused(post("/v1/runs", json=regression(watched, dataset_id=bad)),
            ["body", "dataset_id"], CONTROL)  # fmt: skip
    sweep = {"run": watched.body(), "grid": {"learning_rate": [1e-3]}}
    refused(post("/v1/sweeps", json={**sweep, "name": bad}), ["body", "name"], CONTROL)
    refused(post("/v1/sweeps", json={**sweep, "grid": {bad: [1]}}),
            ["body", "grid", bad, "[key]"], CONTROL)  # fmt: skip
    dataset = {"name": "d", "columns": {"x": [1.0, 2.0], "label": ["p", "q"]}}
    refused(post("/v1/datasets", json={**dataset, "name": bad}), ["body", "name"], CONTROL)
    refused(post("/v1/datasets", json={**dataset, "columns": {bad: [1.0, 2.0]}}),
            ["body", "columns", bad, "[key]"], CONTROL)  # fmt: skip
    refused(post("/v1/datasets", json={**dataset, "columns": {"label": ["p", bad]}}),
            ["body", "columns", "label", 1], CONTROL)  # fmt: skip
    csv = f"x,{bad}\n1,2\n".encode() if char not in "\n" else b'x,"a\nb"\n1,2\n'
    refused(post("/v1/datasets", files={"file": ("d.csv", csv, "text/csv")}),
            ["file", "row 1", "column 2"], CONTROL)  # fmt: skip
    cells = f'x,label\n1,"p{char}q"\n'.encode()
    row = "row 3" if char == "\n" else "row 2"  # the file line where the record ends
    refused(post("/v1/datasets", files={"file": ("d.csv", cells, "text/csv")}),
            ["file", row, "column label"], CONTROL)  # fmt: skip
    form = {"name": bad}
    refused(post("/v1/datasets", data=form, files={"file": ("d.csv", b"x,y\n1,2\n", "text/csv")}),
            ["body", "name"], CONTROL)  # fmt: skip


def test_nul_in_ids_and_headers(watched: Stack) -> None:
    for path in ("/v1/runs/a%00b", "/v1/datasets/a%00b", "/v1/sweeps/a%00b",
                 "/v1/runs/a%00b/history", "/v1/runs/a%00b/plots/loss.png"):  # fmt: skip
        r = watched.http.get(path)
        refused(r, ["path", "run_id" if "/runs/" in path else path.split("/")[2][:-1] + "_id"])
    r = watched.http.post(
        "/v1/runs", json=watched.body(), headers={"Idempotency-Key": "k\tk"}
    )  # the server refuses NUL and DEL in headers itself (400); a tab gets through
    refused(r, ["header", "Idempotency-Key"], CONTROL)


def test_formula_cells_are_escaped_on_export(watched: Stack) -> None:
    columns = {
        "x": [-1.5, 2.0, -3.0, 4.0, 5.0],
        "label": ['=HYPERLINK("http://evil","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                  "-7"],
        "=cmd": [1.0, 2.0, 3.0, 4.0, 5.0],
    }  # fmt: skip
    dataset = watched.http.post("/v1/datasets", json={"name": "formulas", "columns": columns})
    assert dataset.status_code == 201, dataset.text
    started = time.monotonic()
    text = watched.http.get(f"/v1/datasets/{dataset.json()['id']}/data.csv").text
    assert time.monotonic() - started < 10
    assert text.splitlines() == [
        "x,label,'=cmd",
        '-1.5,"\'=HYPERLINK(""http://evil"",""x"")",1',
        "2,'+1+cmd|' /C calc'!A0,2",
        "-3,'-2+3,3",
        "4,'@SUM(A1),4",
        "5,-7,5",  # a negative number is no formula: numbers (even in text) stay as they are
    ]
