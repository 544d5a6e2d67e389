"""Cost bounds through the app: run estimates at submit, predict rows × parameters, page bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from descent_server.db.session import session_factory
from descent_server.ml.mlp_model import MLPModel
from descent_server.ml.types import EpochRecord
from descent_server.repository import history
from tests.api.data import _claim, fake_mlp_run, store
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body

HP = ["body", "hyperparameters"]


def submit(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post("/v1/runs", json=body, headers=api.a)
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_every_run_shows_its_estimate(api: Any) -> None:
    regression = submit(api, MOVIES_RUN)["analysis"]
    # Full batch: one pass over 4 rows (2 parameters²), then 2² per epoch for 50 epochs.
    assert regression["cost"] == 4 * 2**2 + 50 * 2**2
    assert regression["stored_bytes_estimate"] > 51 * 2 * 8
    mlp = submit(api, BLOBS_RUN)["analysis"]
    assert mlp["cost"] >= 3000 * mlp["n_params"] * 5
    assert mlp["stored_bytes_estimate"] > 0


def test_batch_size_one_is_expensive_and_named(api_factory: Any) -> None:
    api = api_factory(max_run_cost="1e9")
    body = run_body(BLOBS_RUN, batch_size=1, epochs=100, hidden_layers=[4])
    response = api.client.post("/v1/runs", json=body, headers=api.a)
    assert response.status_code == 422, response.text
    assert [*HP, "batch_size"] in locs(response) and [*HP, "epochs"] in locs(response)
    message = response.json()["detail"][0]["msg"]
    assert "multiply-adds" in message and "above the limit of 1e+09" in message
    assert "a larger batch_size" in message
    # The same run in batches of 512 is cheap enough.
    assert api.client.post("/v1/runs", json=run_body(body, batch_size=512), headers=api.a)


def test_stored_bytes_name_weights_full(api_factory: Any) -> None:
    api = api_factory(max_run_stored_bytes="10000000")
    body = run_body(BLOBS_RUN, weights="full", epochs=1000, snapshots={"every": 1000})
    response = api.client.post("/v1/runs", json=body, headers=api.a)
    assert response.status_code == 422, response.text
    assert [*HP, "weights"] in locs(response)
    assert "10,000,000 bytes" in response.json()["detail"][0]["msg"]
    stats = submit(api, run_body(body, weights="stats"))
    assert stats["analysis"]["stored_bytes_estimate"] < 10_000_000


def test_sweeps_check_every_run(api_factory: Any) -> None:
    api = api_factory(max_run_cost="1e9")
    body = {"run": run_body(BLOBS_RUN, hidden_layers=[4], epochs=100),
            "grid": {"batch_size": [512, 1]}}  # fmt: skip
    response = api.client.post("/v1/sweeps", json=body, headers=api.a)
    assert response.status_code == 422, response.text
    assert "batch_size=1" in response.text and "multiply-adds" in response.text


@pytest.mark.parametrize(("loss", "outputs"), [("auto", 1), ("categorical_crossentropy", 2)])
def test_the_parameter_count_is_the_engines(api: Any, loss: str, outputs: int) -> None:
    # Two classes: one sigmoid unit by default, two softmax units for categorical entropy.
    rng = np.random.default_rng(0)
    columns = {"a": rng.normal(size=50).tolist(), "b": rng.normal(size=50).tolist(),
               "c": [0, 1] * 25}  # fmt: skip
    dataset = api.client.post("/v1/datasets", json={"name": "two", "columns": columns},
                              headers=api.a).json()["id"]  # fmt: skip
    body = {"kind": "mlp_classifier", "dataset_id": dataset, "features": ["a", "b"],
            "target": "c", "hyperparameters": {"hidden_layers": [8], "loss": loss}}  # fmt: skip
    analysis = submit(api, body)["analysis"]
    assert analysis["n_params"] == 2 * 8 + 8 + 8 * outputs + outputs


def test_predict_refuses_rows_and_cells_naming_inputs(api_factory: Any) -> None:
    api = api_factory(max_predict_rows="50", max_predict_cells="1000")
    run_id = submit(api, run_body(BLOBS_RUN, snapshots={"resolution": 10}))["id"]
    fake_mlp_run(run_id)  # 27 parameters
    path = f"/v1/runs/{run_id}/predict"
    rows = api.client.post(path, json={"inputs": [[1, 2]] * 51}, headers=api.a)
    assert rows.status_code == 422 and locs(rows) == [["body", "inputs"]], rows.text
    assert "at most 50" in rows.text
    cells = api.client.post(path, json={"inputs": [[1, 2]] * 40}, headers=api.a)
    assert cells.status_code == 422 and locs(cells) == [["body", "inputs"]], cells.text
    assert "1,080" in cells.text and "at most 37 rows" in cells.text
    ragged = api.client.post(path, json={"inputs": [[1, 2], [3]]}, headers=api.a)
    assert ragged.status_code == 422, ragged.text


def test_predict_in_batches_equals_the_model(api_factory: Any) -> None:
    api = api_factory(predict_batch_rows="3")
    run_id = submit(api, run_body(BLOBS_RUN, snapshots={"resolution": 10}))["id"]
    fake_mlp_run(run_id)
    inputs = np.random.default_rng(1).uniform(0, 100, (10, 2))
    body = api.client.post(
        f"/v1/runs/{run_id}/predict", json={"inputs": inputs.tolist()}, headers=api.a
    ).json()
    with session_factory() as session:
        stored = history.get_artifact(session, run_id, "weights")
    assert stored is not None
    expected = MLPModel.from_bytes(stored.content).predict_proba(inputs)
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
    assert body["predictions"] == np.argmax(expected, axis=1).tolist()


def test_full_weight_pages_are_capped_by_bytes(api_factory: Any) -> None:
    api = api_factory(history_page_bytes="200000")
    body = run_body(BLOBS_RUN, weights="full", hidden_layers=[40, 40], epochs=30,
                    snapshots={"resolution": 10})  # fmt: skip
    run = submit(api, body)
    n_params = run["analysis"]["n_params"]  # 1,883: ~41 kB a row as JSON
    attempt = _claim(run["id"])
    params = {"dense/kernel": np.full(n_params, 0.123456789).tolist()}
    store(run["id"], attempt, [EpochRecord(epoch=e, loss=1.0, params=params) for e in range(31)])
    seen, since, pages = [], None, 0
    while True:
        query = {} if since is None else {"since_epoch": since}
        page = api.client.get(f"/v1/runs/{run['id']}/history", params=query, headers=api.a)
        assert page.status_code == 200 and len(page.content) < 400_000, len(page.content)
        seen += [row["epoch"] for row in page.json()["epochs"]]
        pages += 1
        since = page.json()["next_since_epoch"]
        if since is None:
            break
    assert seen == list(range(31)) and pages > 1
    downsampled = api.client.get(
        f"/v1/runs/{run['id']}/history", params={"max_points": 1000}, headers=api.a
    )
    assert downsampled.status_code == 200 and len(downsampled.json()["epochs"]) <= 5
