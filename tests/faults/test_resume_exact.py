"""Issue 13 item 10: SIGKILL a worker mid-way through an Adam MLP; the resumed run is exact.

The killed worker's last checkpoint holds the weights and the training state (Adam's step
count and moment estimates, the seed) of one epoch; the next worker resumes from it. Its
history must equal, epoch by epoch and number for number, that of the same run trained
without interruption on the same stack (same backend, same CPU, so bit for bit). Before the
state was checkpointed, 208 of 301 epochs of such a run differed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from tests.faults.stack import Stack, kill_group, wait_until
from tests.ops.procs import alive, descendants

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# Short epochs (~4-25 ms here), so several seconds of training: the first checkpoint comes
# after 2 s (WEIGHTS_EVERY_S), and the kill must still land mid-run on a fast machine.
EPOCHS = 1000
HYPERPARAMETERS = {
    "hidden_layers": [16, 16],
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "batch_size": 16,
    "epochs": EPOCHS,
    "validation_split": 0.2,
    "seed": 5,
    "snapshots": {"every": 250, "resolution": 20},
}


def upload_blobs(stack: Stack) -> str:
    """Upload three overlapping 2-d blobs (150 points each, labels a/b/c); return the id."""
    rng = np.random.default_rng(11)
    centres = np.array([[0.0, 0.0], [2.0, 1.0], [0.5, 2.5]])
    x = np.concatenate([rng.normal(c, 1.0, (150, 2)) for c in centres])
    labels = [label for label in "abc" for _ in range(150)]
    columns = {"x1": x[:, 0].tolist(), "x2": x[:, 1].tolist(), "label": labels}
    response = stack.http.post("/v1/datasets", json={"name": "blobs", "columns": columns})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit_mlp(stack: Stack, dataset_id: str) -> str:
    """Submit the Adam MLP over HTTP; return the run id."""
    body = {
        "kind": "mlp_classifier", "dataset_id": dataset_id, "features": ["x1", "x2"],
        "target": "label", "hyperparameters": HYPERPARAMETERS,
    }  # fmt: skip
    response = stack.http.post("/v1/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def checkpoint_epoch(stack: Stack, run_id: str) -> int | None:
    """Return the epoch of the run's stored training state (None before the first)."""
    assert stack.engine is not None
    with stack.engine.connect() as conn:
        return conn.execute(
            text("SELECT epoch FROM artifact WHERE run_id = :id AND name = 'training_state'"),
            {"id": run_id},
        ).scalar()


def history(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    """Return every epoch row the history endpoint serves, without its wall-clock time."""
    page = stack.http.get(f"/v1/runs/{run_id}/history", params={"limit": 10_000})
    assert page.status_code == 200, page.text
    assert page.json()["next_since_epoch"] is None
    rows = page.json()["epochs"]
    assert all(row.pop("recorded_at") for row in rows)  # when, not what: it differs by run
    return list(rows)


def test_a_resumed_adam_mlp_equals_an_uninterrupted_one(stack: Stack) -> None:
    dataset_id = upload_blobs(stack)
    first = stack.start_worker("first")
    run_id = submit_mlp(stack, dataset_id)
    wait_until(lambda: checkpoint_epoch(stack, run_id), "a checkpoint with training state", 150)
    pids = {first.pid} | descendants(first.pid)
    kill_group(first.pid)  # main process and pool child at once: no warm shutdown, no ack
    wait_until(lambda: not any(alive(pid) for pid in pids), "the killed worker to be gone", 30)
    stack.workers.remove(first)
    first.proc.wait(timeout=10)

    orphan = stack.run(run_id)
    assert orphan["status"] == "running", "the run ended before the kill: make it longer"
    resumed_at = checkpoint_epoch(stack, run_id)
    assert resumed_at is not None and 1 <= resumed_at < EPOCHS
    with stack.worker("second") as second:
        stack.wait(run_id)
        resumed = stack.assert_complete(run_id, epochs=EPOCHS)
        reference_id = submit_mlp(stack, dataset_id)  # the same run, never interrupted
        stack.wait(reference_id)
        reference = stack.assert_complete(reference_id, epochs=EPOCHS)
        log = second.log()
    assert resumed["attempt"] == 2 and reference["attempt"] == 1
    assert f"resumes at epoch {resumed_at} exactly" in log, log[-3000:]

    ours, theirs = history(stack, run_id), history(stack, reference_id)
    assert [row["epoch"] for row in ours] == list(range(EPOCHS + 1))
    differing = [a["epoch"] for a, b in zip(ours, theirs, strict=True) if a != b]
    assert differing == [], f"{len(differing)} epochs differ, from epoch {differing[0]}"
    assert resumed["result"] == reference["result"]
    print(f"\nkilled at epoch {orphan['progress']['epoch']}, resumed from {resumed_at}; "
          f"{EPOCHS + 1} epochs equal to the uninterrupted run")  # fmt: skip
