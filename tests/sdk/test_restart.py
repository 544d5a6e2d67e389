"""`run.wait()` across an API restart: a real `descent-server api` stopped and started again
while a real worker trains, on the embedded stack (SQLite + file broker)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import descent
import pytest

from descent_server.db.migrate import upgrade
from tests.faults.stack import REGRESSION_HP, Stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded 2-core box is slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """An API server and a worker of our own on a fresh SQLite database."""
    url = f"sqlite:///{tmp_path / 'descent.db'}"
    upgrade(url)
    stack = Stack(database_url=url, broker_url="", tmp=tmp_path)
    try:
        stack.start()
        stack.start_worker("worker")
        yield stack
    finally:
        stack.cancel_leftovers()
        stack.close()


def test_wait_returns_the_run_after_the_api_restarts(stack: Stack) -> None:
    assert stack.api is not None
    key = stack.http.headers["Authorization"].removeprefix("Bearer ")
    client = descent.Client(stack.api.url, api_key=key)
    # 1,000 mini-batch updates per epoch: long enough to still be training across the restart.
    run = client.runs.create(
        kind="linear_regression",
        dataset=stack.dataset_id,
        features=["x"],
        target="y",
        **{**REGRESSION_HP, "epochs": 800},
    )
    outcome: dict[str, Any] = {}

    def waiting() -> None:
        try:
            outcome["run"] = run.wait(progress=False, poll_interval=0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=waiting, daemon=True)
    thread.start()
    seen = wait_until(
        lambda: (r := stack.run(run.id))["progress"]["epoch"] is not None and r,
        "the run to start training",
    )
    assert thread.is_alive()  # wait() is waiting: the restart happens during it
    stack.api.stop()  # connections refused from here on; the worker keeps training
    time.sleep(2.0)  # long enough for wait() to exhaust its per-request retries
    stack.api.start()  # same port
    thread.join(timeout=500)
    assert not thread.is_alive(), "wait() did not return"
    assert "error" not in outcome, f"{outcome.get('error')!r}\n{stack.logs()}"
    assert seen["status"] == "running"
    finished = outcome["run"]
    assert finished is run and run.status == "succeeded", f"{run!r}\n{stack.logs()}"
    assert run.progress == descent.Progress(800, 800)
    client.close()
