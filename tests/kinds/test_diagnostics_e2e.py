"""Diagnostics end to end: crafted runs submitted over HTTP, trained by a real worker, say what
went wrong (in run.diagnostics and on the event stream); a healthy run says nothing above info."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from descent_server.ml.datasets import load_builtin
from tests.faults.stack import Stack

pytestmark = pytest.mark.e2e

MOVIES = {"dataset_id": "builtin:movies", "features": ["num_want_to_see"],
          "target": "nums_audience"}  # fmt: skip
FAST = {"snapshots": {"every": 1000, "resolution": 10}}  # the first and last epochs only


def upload(stack: Stack, name: str, columns: dict[str, np.ndarray]) -> str:
    """Upload columns as a dataset; return its id."""
    body = {"name": name, "columns": {k: v.tolist() for k, v in columns.items()}}
    response = stack.http.post("/v1/datasets", json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def blobs(stack: Stack, n_per_class: int) -> dict[str, Any]:
    """Return the run fields of a class-balanced head of the course's three blobs."""
    d = load_builtin("three-blobs")
    rows = np.concatenate([np.arange(c * 1000, c * 1000 + n_per_class) for c in range(3)])
    columns = {"x1": d["x1"][rows], "x2": d["x2"][rows], "label": d["label"][rows]}
    dataset = upload(stack, f"blobs-{n_per_class}", columns)
    return {"dataset_id": dataset, "features": ["x1", "x2"], "target": "label"}


def train(stack: Stack, kind: str, data: dict[str, Any], **hp: Any) -> dict[str, Any]:
    """Submit a run and wait until it is final; return it."""
    response = stack.http.post("/v1/runs", json={"kind": kind, **data, "hyperparameters": hp})
    assert response.status_code == 202, response.text
    return stack.wait(response.json()["id"])


def codes(run: dict[str, Any], *, above_info: bool = False) -> set[str]:
    """Return the codes of the run's diagnostics (only warnings and errors if asked)."""
    return {d["code"] for d in run["diagnostics"] if not above_info or d["severity"] != "info"}


def events(stack: Stack, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Read the run's whole event stream: (event, data) in order."""
    out: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with stack.http.stream("GET", f"/v1/runs/{run_id}/events") as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                out.append((name, json.loads(line.partition(":")[2])))
    return out


def test_the_course_regression_on_raw_features_is_unscaled(kinds_stack: Stack) -> None:
    run = train(kinds_stack, "linear_regression", MOVIES, learning_rate=2e-10, epochs=100)
    assert run["status"] == "succeeded", run
    found = [d for d in run["diagnostics"] if d["code"] == "unscaled_features"]
    assert [d["severity"] for d in found] == ["warning", "error"]  # then b never moved
    assert found[0]["epoch"] == 0 and "normalize" in found[0]["hint"]


def test_just_above_two_over_lambda_max_is_told_before_the_run_is_final(
    kinds_stack: Stack,
) -> None:
    http = kinds_stack.http
    probe = http.post("/v1/runs", json={"kind": "linear_regression", **MOVIES,
                                        "hyperparameters": {"normalize": "standard",
                                                            "epochs": 1}})  # fmt: skip
    lr_max = probe.json()["analysis"]["lr_max"]
    hp = {"normalize": "standard", "epochs": 300, "learning_rate": 1.02 * lr_max}
    run = train(kinds_stack, "linear_regression", MOVIES, **hp)
    assert run["status"] == "diverged", run
    stream = events(kinds_stack, run["id"])
    told = [i for i, (name, data) in enumerate(stream)
            if name == "diagnosis" and data["code"] in ("diverging", "oscillating")]  # fmt: skip
    final = [i for i, (name, data) in enumerate(stream)
             if name == "status" and data["status"] == "diverged"]  # fmt: skip
    assert told and final and told[0] < final[0]
    assert stream[told[0]][1]["epoch"] < run["result"]["epochs_run"]


def test_the_notebooks_tail_validation_is_unrepresentative(kinds_stack: Stack) -> None:
    data = {"dataset_id": "builtin:three-blobs", "features": ["x1", "x2"], "target": "label"}
    run = train(kinds_stack, "mlp_classifier", data, validation="tail", epochs=1, **FAST)
    hit = next(d for d in run["diagnostics"] if d["code"] == "unrepresentative_validation")
    assert hit["epoch"] == 0 and hit["severity"] == "warning"


def test_a_deep_sigmoid_net_has_vanishing_gradients(kinds_stack: Stack) -> None:
    run = train(kinds_stack, "mlp_classifier", blobs(kinds_stack, 60),
                hidden_layers=[32] * 8, activation="sigmoid", epochs=3, **FAST)  # fmt: skip
    assert "vanishing_gradients" in codes(run), run["diagnostics"]


def test_a_tiny_data_set_with_a_wide_net_overfits(kinds_stack: Stack) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 6))
    y = (x[:, 0] + rng.normal(scale=1.5, size=24) > 0).astype(np.int64)  # mostly noise
    names = [f"f{i}" for i in range(6)]
    dataset = upload(kinds_stack, "tiny", {**dict(zip(names, x.T, strict=True)), "y": y})
    data = {"dataset_id": dataset, "features": names, "target": "y"}
    run = train(kinds_stack, "mlp_classifier", data, hidden_layers=[256, 256], epochs=80,
                optimizer={"name": "adam", "learning_rate": 0.01}, batch_size=12,
                validation_split=0.5, normalize="standard")  # fmt: skip
    assert "overfitting" in codes(run), run["diagnostics"]


def test_relu_units_driven_dead_are_reported(kinds_stack: Stack) -> None:
    run = train(kinds_stack, "mlp_classifier", blobs(kinds_stack, 100), epochs=5,
                optimizer={"name": "sgd", "learning_rate": 20.0}, **FAST)  # fmt: skip
    hit = next(d for d in run["diagnostics"] if d["code"] == "dead_units")
    assert hit["evidence"]["share"] >= 0.5 and hit["epoch"] >= 1


def test_a_healthy_run_reports_nothing_above_info(kinds_stack: Stack) -> None:
    run = train(kinds_stack, "mlp_classifier", blobs(kinds_stack, 100), epochs=15,
                optimizer={"name": "adam", "learning_rate": 0.01}, **FAST)  # fmt: skip
    assert run["status"] == "succeeded", run
    assert codes(run, above_info=True) == set(), run["diagnostics"]
