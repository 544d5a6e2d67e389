"""Across runs end to end over HTTP, with a real worker, on PostgreSQL + Redis and on the
embedded stack: clone with a dotted override that trains, tag and annotate, filter and sort
by a metric, compare and the overlaid loss plot, and an identical upload deduplicated."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from PIL import Image

from tests.faults.stack import Stack, regression_data

pytestmark = pytest.mark.e2e

RUN = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs", "features": ["x1", "x2"],
    "target": "label",
    "hyperparameters": {
        "hidden_layers": [8], "epochs": 12, "batch_size": 32, "validation_split": 0.2,
        "optimizer": {"name": "sgd", "learning_rate": 0.001},
        "snapshots": {"every": 6, "resolution": 10},
    },
}  # fmt: skip


def _ids(stack: Stack, **params: Any) -> list[str]:
    response = stack.http.get("/v1/runs", params=params)
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["items"]]


@pytest.mark.parametrize("which", ["stack", "embedded_stack"])
def test_tag_filter_sort_clone_and_compare(which: str, request: pytest.FixtureRequest) -> None:
    stack: Stack = request.getfixturevalue(which)
    mark = f"e2e-{uuid.uuid4().hex[:8]}"  # the stack is shared: this test's runs only
    http = stack.http
    with stack.worker(f"across-{which}"):
        base = http.post("/v1/runs", json={**RUN, "name": f"{mark} slow"})
        assert base.status_code == 202, base.text
        parent = base.json()
        clone = http.post(
            f"/v1/runs/{parent['id']}/clone",
            json={"name": f"{mark} fast", "hyperparameters": {"optimizer.learning_rate": 0.3}},
        )
        assert clone.status_code == 202, clone.text
        child = clone.json()
        parent, child = stack.wait(parent["id"]), stack.wait(child["id"])
    for run in (parent, child):
        assert run["status"] == "succeeded", f"{run}\n{stack.logs()}"
        assert run["duration_s"] is not None and run["duration_s"] > 0
    assert child["parent_run_id"] == parent["id"]
    assert child["hyperparameters"]["optimizer"]["learning_rate"] == 0.3
    assert child["hyperparameters"]["optimizer"]["name"] == "sgd"
    assert child["dataset_name"] == "three-blobs"
    assert child["metrics"]["val_loss"] != parent["metrics"]["val_loss"]

    # Tag and annotate (a final run too), then find the two by tag and text, sorted.
    for run in (parent, child):
        patched = http.patch(f"/v1/runs/{run['id']}", json={"tags": [mark, "blobs"]})
        assert patched.status_code == 200 and patched.json()["tags"] == [mark, "blobs"]
    noted = http.patch(f"/v1/runs/{child['id']}", json={"notes": "ten times the rate"}).json()
    assert noted["notes"] == "ten times the rate" and noted["status"] == "succeeded"
    best_first = sorted((parent, child), key=lambda run: run["metrics"]["val_loss"])
    assert _ids(stack, tag=[mark, "blobs"], sort="metrics.val_loss") == [
        run["id"] for run in best_first
    ]
    assert _ids(stack, tag=mark, sort="-metrics.val_loss") == [
        run["id"] for run in best_first[::-1]
    ]
    assert _ids(stack, q=f"{mark} FAST") == [child["id"]]
    assert _ids(stack, tag=mark, sort="duration_s", status="succeeded", kind="mlp_classifier")
    unknown = http.get("/v1/runs", params={"tagged": mark})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["query", "tagged"]

    # Compare: what differs, the metrics side by side, and both losses on one picture.
    ids = f"{parent['id']},{child['id']}"
    compared = http.get("/v1/runs/compare", params={"ids": ids})
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["differs"]["optimizer.learning_rate"] == [0.001, 0.3]
    assert set(body["differs"]) == {"optimizer.learning_rate"}
    assert body["metrics"]["val_loss"] == [parent["metrics"]["val_loss"],
                                           child["metrics"]["val_loss"]]  # fmt: skip
    png = http.get("/v1/runs/compare/plots/loss.png", params={"ids": ids, "width": 500,
                                                             "height": 300})  # fmt: skip
    assert png.status_code == 200, png.text
    assert Image.open(io.BytesIO(png.content)).size == (500, 300)

    # The stack's own dataset, uploaded again: the same dataset comes back.
    x, y = regression_data()
    columns = {"x": x.tolist(), "y": y.tolist()}
    again = http.post("/v1/datasets", json={"name": "again", "columns": columns})
    assert again.status_code == 200 and again.json()["id"] == stack.dataset_id
