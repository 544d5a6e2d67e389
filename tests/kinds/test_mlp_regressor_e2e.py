"""mlp_regressor end to end, as a user meets it: submit over HTTP, a real worker trains,
the fitted curve's film and a prediction come back."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from tests.faults.stack import Stack

pytestmark = pytest.mark.e2e


def test_the_regressor_learns_a_sine_and_films_its_fit(kinds_stack: Stack) -> None:
    http = kinds_stack.http
    body = {
        "kind": "mlp_regressor", "dataset_id": "builtin:sine", "features": ["x"], "target": "y",
        "hyperparameters": {
            "hidden_layers": [32, 32], "activation": "tanh", "epochs": 100, "batch_size": 32,
            "optimizer": {"name": "adam", "learning_rate": 0.01}, "validation_split": 0.2,
            "snapshots": {"every": 10, "resolution": 50},
        },
    }  # fmt: skip
    response = http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run = kinds_stack.wait(response.json()["id"])
    assert run["status"] == "succeeded", run
    assert run["result"]["val_mae"] < 0.1 and run["metrics"]["val_mae"] < 0.1
    assert set(run["metrics"]) == {"loss", "val_loss", "mae", "val_mae"}
    rows = http.get(f"/v1/runs/{run['id']}/history").json()["epochs"]
    assert len(rows) == 101 and rows[-1]["val_mae"] == run["metrics"]["val_mae"]
    assert rows[0]["accuracy"] is None  # a regressor has no accuracy
    snapshots = http.get(f"/v1/runs/{run['id']}/snapshots").json()
    assert snapshots["epochs"] == list(range(0, 101, 10)) and snapshots["resolution"] == 50
    curve = http.get(f"/v1/runs/{run['id']}/snapshots/100").json()["grid"][0]
    xs = [snapshots["extent"][0] + i * (snapshots["extent"][1] - snapshots["extent"][0]) / 49
          for i in range(50)]  # fmt: skip
    inside = [(x, c) for x, c in zip(xs, curve, strict=True) if -2.5 < x < 2.5]
    assert max(abs(c - math.sin(x)) for x, c in inside) < 0.25  # the film ends on a sine
    png = http.get(f"/v1/runs/{run['id']}/plots/fit.png", params={"epoch": 50, "width": 400,
                                                                   "height": 300})  # fmt: skip
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (400, 300)
    gif = http.get(f"/v1/runs/{run['id']}/plots/fit.gif", params={"frames": 5, "width": 300,
                                                                   "height": 200})  # fmt: skip
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(gif.content)).n_frames == 5
    predicted = http.post(f"/v1/runs/{run['id']}/predict", json={"inputs": [0.0, 1.5]}).json()
    assert [round(p, 1) for p in predicted["predictions"]] == pytest.approx([0.0, 1.0], abs=0.15)
    boundary = http.get(f"/v1/runs/{run['id']}/plots/boundary.png")
    assert boundary.status_code == 422  # a classifier's picture, and it says so
    assert "mlp_classifier" in boundary.json()["detail"][0]["msg"]
