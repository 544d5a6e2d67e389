"""Runs for the service benchmarks: the course requests, submit, wait, train in-process."""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any

import httpx

OWNER = "local"  # auth off: everything belongs to the local owner
MOVIES = {
    "kind": "linear_regression", "dataset_id": "builtin:movies",
    "features": ["num_want_to_see"], "target": "nums_audience",
    "hyperparameters": {"learning_rate": 2e-10, "epochs": 300},
}  # fmt: skip
BLOBS_MLP = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"], "target": "label", "hyperparameters": {"seed": 100},
}  # fmt: skip
SMALL_MLP = {
    "kind": "mlp_classifier", "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"], "target": "label",
    "hyperparameters": {"epochs": 2, "hidden_layers": [16, 16], "batch_size": 64,
                        "snapshots": {"every": 1, "resolution": 50}},
}  # fmt: skip


# Per-tenant policy limits would throttle the load test itself: lift them for the bench.
NO_LIMITS = {"DESCENT_MAX_CONCURRENT_RUNS": "1000000", "DESCENT_SUBMIT_RATE_PER_MINUTE": "1000000"}
FINAL = ("succeeded", "diverged", "failed", "cancelled")


def submit(client: httpx.Client, request: dict[str, Any]) -> str:
    """POST one run; return its id."""
    response = client.post("/v1/runs", json=request)
    response.raise_for_status()
    return str(response.json()["id"])


def wait_final(client: httpx.Client, run_id: str, poll_s: float = 0.02) -> dict[str, Any]:
    """Poll the run (with If-None-Match, as a frontend would) until it is final."""
    tag = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(f"/v1/runs/{run_id}", headers={"If-None-Match": tag})
        if response.status_code == 200:
            tag, run = response.headers["ETag"], response.json()
            if run["status"] in FINAL:
                return dict(run)
        time.sleep(poll_s)
    raise TimeoutError(f"run {run_id} not final after 60 s")


def run_times(run_ids: list[str]) -> list[dict[str, Any]]:
    """Return each run's status and server timestamps (created, started, finished; epoch s)."""
    from sqlalchemy import select

    from descent_server.db.models import Run
    from descent_server.db.session import session_scope

    query = select(Run.id, Run.status, Run.created_at, Run.started_at, Run.finished_at)
    with session_scope() as session:
        rows = {r[0]: r[1:] for r in session.execute(query.where(Run.id.in_(run_ids)))}

    def stamp(value: Any) -> float | None:
        return None if value is None else value.replace(tzinfo=UTC).timestamp()

    return [
        {"status": status, "created": stamp(c), "started": stamp(s), "finished": stamp(f)}
        for status, c, s, f in (rows[i] for i in run_ids)
    ]


def submit_and_train(request: dict[str, Any]) -> str:
    """Store a run through the submit service and train it here, as a worker would."""
    from descent_server.db.session import session_factory, session_scope
    from descent_server.services import kinds, runs
    from descent_server.services.training import run_training

    spec = kinds.parse_request(request, ("body",))
    with session_scope() as session:
        run, _ = runs.submit(
            session=session, owner=OWNER, request=spec, idempotency_key=None,
            enqueue=lambda *_: None,
        )  # fmt: skip
    run_training(session_factory=session_factory, run_id=run.id)
    return run.id
