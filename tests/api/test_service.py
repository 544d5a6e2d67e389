"""Service endpoints (health, readiness, metrics, OpenAPI), CORS, request limits, 503s."""

from __future__ import annotations

from fastapi.testclient import TestClient

from descent_server.api.app import create_app
from tests.api.conftest import configure
from tests.api.helpers import MOVIES_RUN

V1_PATHS = {
    "/v1/datasets", "/v1/datasets/{dataset_id}", "/v1/datasets/{dataset_id}/data.csv",
    "/v1/builtin-datasets", "/v1/runs", "/v1/runs/{run_id}", "/v1/runs/{run_id}/cancel",
    "/v1/runs/{run_id}/history", "/v1/runs/{run_id}/events", "/v1/runs/{run_id}/snapshots",
    "/v1/runs/{run_id}/snapshots/{epoch}", "/v1/runs/{run_id}/loss-surface",
    "/v1/runs/{run_id}/plots/{name}.png", "/v1/runs/{run_id}/plots/{name}.gif",
    "/v1/runs/{run_id}/predict", "/v1/runs/{run_id}/model", "/v1/sweeps", "/v1/sweeps/{sweep_id}",
    "/v1/sweeps/{sweep_id}/cancel", "/v1/sweeps/{sweep_id}/plots/{name}.png",
    "/v1/lr-range-tests", "/v1/lr-range-tests/{test_id}",
    "/v1/lr-range-tests/{test_id}/plots/loss.png",
    "/v1/runs/{run_id}/clone", "/v1/runs/compare", "/v1/runs/compare/plots/loss.png",
}  # fmt: skip


def test_health_and_docs(api) -> None:  # type: ignore[no-untyped-def]
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    paths = {p for p in spec["paths"] if p.startswith("/v1")}
    assert paths == V1_PATHS
    schemas = spec["components"]["schemas"]
    assert {"RunRead", "RunResult", "RunAnalysis", "DatasetRead", "HistoryPage"} <= set(schemas)
    # One request schema per kind, each with its own typed hyperparameters and an example.
    for name in ("LinearRegressionRun", "MLPClassifierRun", "MLPRegressorRun"):
        assert schemas[name]["additionalProperties"] is False and schemas[name]["examples"]
        assert schemas[name]["properties"]["hyperparameters"]["$ref"].endswith("Hyperparameters")
    body = spec["paths"]["/v1/runs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["discriminator"]["propertyName"] == "kind"
    assert set(body["examples"]) == {"linear_regression", "mlp_classifier", "mlp_regressor"}
    epochs = schemas["MLPRegressorHyperparameters"]["properties"]["epochs"]
    assert epochs["default"] == 20 and epochs["minimum"] == 1


def test_readyz_reports_each_dependency(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(broker_url="redis://127.0.0.1:6379/15")
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    down = api_factory(broker_url="redis://127.0.0.1:1/0")
    r = down.client.get("/readyz")
    assert r.status_code == 503 and r.json()["broker"] == "down" and r.json()["database"] == "ok"


def test_metrics_count_requests_and_runs(api) -> None:  # type: ignore[no-untyped-def]
    api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)
    text = api.client.get("/metrics").text
    assert 'descent_http_requests_total{method="POST",route="/v1/runs",status="202"}' in text
    assert 'descent_runs_submitted_total{kind="linear_regression",queue="cpu"}' in text
    assert "descent_http_request_seconds_bucket" in text


def test_database_down_is_503(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    configure(
        monkeypatch,
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
        auth_enabled="false",
    )
    client = TestClient(create_app())
    for method, url in (("GET", "/v1/runs"), ("POST", "/v1/runs"), ("GET", "/v1/datasets")):
        r = client.request(method, url, json=MOVIES_RUN)
        assert r.status_code == 503, (url, r.text)
        assert "database" in r.json()["detail"] and "Traceback" not in r.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["database"] == "down"


def test_database_down_with_auth_is_503(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, database_url="postgresql+psycopg://postgres@127.0.0.1:1/x")
    client = TestClient(create_app())
    r = client.get("/v1/runs", headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 503


def test_cors(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(cors_origins='["http://localhost:5173"]')
    r = api.client.options(
        "/v1/runs",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
    )
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
