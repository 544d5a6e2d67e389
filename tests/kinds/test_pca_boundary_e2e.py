"""A classifier of more than two features draws its boundary on the PCA plane, end to end."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.faults.stack import Stack

pytestmark = pytest.mark.e2e

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def test_iris_draws_its_boundary_film_on_the_pca_plane(kinds_stack: Stack) -> None:
    http = kinds_stack.http
    body = {"kind": "mlp_classifier", "dataset_id": "builtin:iris", "features": FEATURES,
            "target": "species",
            "hyperparameters": {"hidden_layers": [16], "epochs": 6, "batch_size": 16, "seed": 1,
                                "optimizer": {"name": "adam", "learning_rate": 0.05},
                                "snapshots": {"every": 2, "resolution": 40}}}  # fmt: skip
    response = http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    run = kinds_stack.wait(response.json()["id"])
    assert run["status"] == "succeeded", run
    listed = http.get(f"/v1/runs/{run['id']}/snapshots").json()
    projection = listed["projection"]
    assert projection["kind"] == "pca" and len(projection["components"]) == 2
    assert len(projection["components"][0]) == 4 and len(projection["mean"]) == 4
    ratio = projection["explained_variance_ratio"]
    assert ratio[0] >= ratio[1] > 0 and ratio[0] + ratio[1] <= 1 + 1e-9
    assert listed["epochs"] == [0, 2, 4, 6] and listed["classes"] == [
        "setosa", "versicolor", "virginica"
    ]  # fmt: skip
    grid = http.get(f"/v1/runs/{run['id']}/snapshots/6").json()["grid"]
    assert len(grid) == 40 and {cell for row in grid for cell in row} <= {0, 1, 2}
    png = http.get(f"/v1/runs/{run['id']}/plots/boundary.png", params={"width": 500,
                                                                        "height": 400})  # fmt: skip
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (500, 400)
    gif = http.get(f"/v1/runs/{run['id']}/plots/boundary.gif", params={"frames": 4})
    assert gif.status_code == 200 and Image.open(io.BytesIO(gif.content)).n_frames == 4
