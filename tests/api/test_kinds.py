"""The typed run contract: one request schema per kind, its example accepted, misplaced
hyperparameters answered with the right name, and parameters counted by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from descent_server.ml.regression import RegressionConfig
from descent_server.services import kinds
from descent_server.services.kinds.linear_regression import config_of
from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, run_body


@pytest.mark.parametrize("kind", ["linear_regression", "mlp_classifier", "mlp_regressor"])
def test_each_kinds_openapi_example_is_accepted(api, kind: str) -> None:  # type: ignore[no-untyped-def]
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/runs"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"][kind]["value"]
    r = api.client.post("/v1/runs", json=example, headers=api.a)
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == kind and r.json()["hyperparameters"]["epochs"] >= 1


def _error(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = api.client.post("/v1/runs", json=body, headers=api.a)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    return dict(error)


def test_a_misplaced_hyperparameter_gets_its_right_name(api) -> None:  # type: ignore[no-untyped-def]
    error = _error(api, run_body(BLOBS_RUN, learning_rate=0.05))
    assert error["loc"] == ["body", "hyperparameters", "learning_rate"]
    assert error["msg"].endswith("for mlp_classifier it is hyperparameters.optimizer.learning_rate")
    error = _error(api, run_body(MOVIES_RUN, epoch=5))
    assert error["loc"] == ["body", "hyperparameters", "epoch"]
    assert error["msg"].endswith("did you mean epochs?")
    error = _error(api, run_body(BLOBS_RUN, optimizer={"name": "adam", "learnig_rate": 0.1}))
    assert error["loc"] == ["body", "hyperparameters", "optimizer", "learnig_rate"]
    assert error["msg"].endswith("did you mean learning_rate?")
    error = _error(api, {**MOVIES_RUN, "epochs": 5})  # beside hyperparameters
    assert error["loc"] == ["body", "epochs"]
    assert error["msg"].endswith("did you mean hyperparameters.epochs?")


def test_an_unknown_or_missing_kind_names_the_kinds(api) -> None:  # type: ignore[no-untyped-def]
    error = _error(api, {**MOVIES_RUN, "kind": "svm"})
    assert error["loc"] == ["body", "kind"]
    assert error["msg"] == (
        "unknown kind 'svm'; one of linear_regression, mlp_classifier, mlp_regressor"
    )
    body = {k: v for k, v in MOVIES_RUN.items() if k != "kind"}
    assert _error(api, body)["loc"] == ["body", "kind"]


def test_a_kinds_own_loss_choices_are_checked(api) -> None:  # type: ignore[no-untyped-def]
    sine = {"kind": "mlp_regressor", "dataset_id": "builtin:sine", "features": ["x"],
            "target": "y", "hyperparameters": {"loss": "categorical_crossentropy"}}  # fmt: skip
    assert _error(api, sine)["loc"] == ["body", "hyperparameters", "loss"]
    ok = api.client.post("/v1/runs", json=run_body(sine, loss="mae"), headers=api.a)
    assert ok.status_code == 202 and ok.json()["hyperparameters"]["loss"] == "mae"
    analysis = ok.json()["analysis"]
    assert analysis["extent"][0] < -2.9 and analysis["resolution"] == 100
    assert "classes" not in analysis  # a regressor has none
    blobs = _error(api, run_body(BLOBS_RUN, loss="mae"))  # a classifier's losses differ
    assert blobs["loc"] == ["body", "hyperparameters", "loss"]


def test_parameters_are_counted_by_the_engine(api) -> None:  # type: ignore[no-untyped-def]
    # Two classes with categorical cross-entropy: the engine builds two softmax units.
    two = {"name": "two", "columns": {"x1": [0.0, 1, 2, 3], "x2": [1.0, 0, 1, 0],
                                      "label": [0.0, 1, 0, 1]}}  # fmt: skip
    dataset = api.client.post("/v1/datasets", json=two, headers=api.a).json()
    body = {**BLOBS_RUN, "dataset_id": dataset["id"],
            "hyperparameters": {"loss": "categorical_crossentropy", "epochs": 1}}  # fmt: skip
    r = api.client.post("/v1/runs", json=body, headers=api.a)
    assert r.status_code == 202, r.text
    assert r.json()["analysis"]["n_params"] == (2 * 40 + 40) + (40 * 40 + 40) + (40 * 2 + 2)


def test_one_place_builds_the_regression_engines_config() -> None:
    hp = kinds.get("linear_regression").hyperparameters.model_validate(
        {"learning_rate": 2e-10, "init": {"a": -0.75, "b": -100}}
    )
    filled = {**hp.model_dump(mode="json"), "init": {"a": -0.75, "b": -100}}
    assert config_of(filled) == RegressionConfig(2e-10, 300, (-0.75,), -100.0, seed=0)
    several = {**filled, "init": {"weights": [1, 2], "bias": 3}}
    assert config_of(several).init_weights == (1.0, 2.0) and config_of(several).init_bias == 3.0
