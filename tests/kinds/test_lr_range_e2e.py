"""The learning-rate range test end to end: over HTTP, a real worker runs it, and what it
suggests trains the course's models well (the done-when of the range test)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.faults.stack import Stack

pytestmark = pytest.mark.e2e

COURSE_MLP = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs", "features": ["x1", "x2"],
    "target": "label",
    "hyperparameters": {
        "hidden_layers": [40, 40], "optimizer": {"name": "sgd"}, "normalize": "minmax",
        "seed": 100, "epochs": 20,
    },
}  # fmt: skip
MOVIES = {
    "kind": "linear_regression", "dataset_id": "builtin:movies",
    "features": ["num_want_to_see"], "target": "nums_audience",
    "hyperparameters": {"learning_rate": 2e-10, "epochs": 300},
}  # fmt: skip


def range_test(stack: Stack, run: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Submit a range test and wait (up to two minutes) until it is final."""
    response = stack.http.post("/v1/lr-range-tests", json={"run": run, **fields})
    assert response.status_code == 202, response.text
    url = response.headers["Location"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        test = stack.http.get(url).json()
        if test["status"] not in ("queued", "running"):
            return test  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"range test {url} still live: {stack.logs()[-3000:]}")


def test_the_course_mlp_trains_to_098_at_the_suggested_rate(kinds_stack: Stack) -> None:
    test = range_test(kinds_stack, COURSE_MLP, min_lr=1e-7, max_lr=10, steps=100)
    assert test["status"] == "succeeded", test
    suggested = test["suggested_learning_rate"]
    assert test["rule"] == "steepest" and 1e-3 < suggested < 1
    png = kinds_stack.http.get(f"/v1/lr-range-tests/{test['id']}/plots/loss.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    run = test["run"]
    run["hyperparameters"]["optimizer"]["learning_rate"] = suggested
    response = kinds_stack.http.post("/v1/runs", json=run)
    assert response.status_code == 202, response.text
    trained = kinds_stack.wait(response.json()["id"])
    assert trained["status"] == "succeeded", trained
    assert trained["metrics"]["val_accuracy"] >= 0.98, (suggested, trained["metrics"])


def test_the_movies_suggestion_is_at_most_lr_max(kinds_stack: Stack) -> None:
    test = range_test(kinds_stack, MOVIES, min_lr=1e-14, max_lr=1e-6, steps=200)
    assert test["status"] == "succeeded", test
    response = kinds_stack.http.post("/v1/runs", json=MOVIES)
    analysis = response.json()["analysis"]
    assert 0 < test["suggested_learning_rate"] <= analysis["lr_max"]
    assert test["lr_max"] == analysis["lr_max"]
    trained = kinds_stack.wait(response.json()["id"])
    assert trained["status"] == "succeeded", trained
