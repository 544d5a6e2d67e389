"""A new kind is one module: a toy fourth kind, registered through `kind_modules` alone,
is accepted, trained by a real worker and served by a real API server, end to end."""

from __future__ import annotations

import pytest

from tests.faults.stack import Stack

pytestmark = pytest.mark.e2e


def test_a_toy_kind_trains_end_to_end(kinds_stack: Stack) -> None:
    spec = kinds_stack.http.get("/openapi.json").json()
    assert "MeanPredictorRun" in spec["components"]["schemas"]
    body = {"kind": "mean_predictor", "dataset_id": kinds_stack.dataset_id, "features": ["x"],
            "target": "y", "hyperparameters": {"learning_rate": 0.25, "epochs": 12}}  # fmt: skip
    response = kinds_stack.http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run = kinds_stack.wait(response.json()["id"])
    assert run["status"] == "succeeded", run
    mean = run["analysis"]["target_mean"]
    assert run["result"]["c"] == pytest.approx(mean * (1 - 0.5**12))  # c halves its gap each step
    history = kinds_stack.http.get(f"/v1/runs/{run['id']}/history").json()["epochs"]
    assert [row["epoch"] for row in history] == list(range(13))
    assert history[-1]["params"]["c"] == run["result"]["c"]
    predicted = kinds_stack.http.post(f"/v1/runs/{run['id']}/predict", json={"inputs": [1.0, 2.0]})
    assert predicted.json() == {"predictions": [run["result"]["c"]] * 2}
    plot = kinds_stack.http.get(f"/v1/runs/{run['id']}/plots/loss.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    # Its typed hyperparameters are checked like every kind's, with a hint for a near miss.
    bad = {**body, "hyperparameters": {"epoch": 3}}
    refused = kinds_stack.http.post("/v1/runs", json=bad)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "hyperparameters", "epoch"]
    assert "did you mean epochs?" in refused.json()["detail"][0]["msg"]
