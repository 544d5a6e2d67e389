"""The SDK against a live uvicorn server and a real Celery worker, on both backends."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import descent
import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from descent_server.services import keys
from descent_server.settings import Settings
from tests.helpers.runs import MOVIES_A_AFTER_300

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded 2-core box is slow


@pytest.fixture
def live_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A real uvicorn server on this test's settings (the environment carries them)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "descent_server.api.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "api.log").read_text()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_course_regression_live(
    live_url: str, session_factory: sessionmaker[Session], worker: object
) -> None:
    with session_factory() as session:
        _, key = keys.create(session=session, owner="alice")
    with descent.Client(live_url, api_key=key) as client:
        movies = client.datasets.builtin("movies")
        run = client.runs.create(
            kind=movies.kind,
            dataset=movies,
            features=movies.features,
            target=movies.target,
            learning_rate=2e-10,
            epochs=300,
            init={"a": -0.75, "b": -100},
        )
        # Follow it live: every epoch exactly once, in order, then the final status.
        events = list(run.events())
        epochs = [int(e.id) for e in events if e.event == "epoch"]
        assert epochs == list(range(301))
        assert events[-1].event == "status" and run.status == "succeeded", run.error
        assert run.result["params"]["a"] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)
        assert run.wait(progress=False).succeeded  # already final: returns at once
        history = run.history()
        assert len(history) == 301
        assert history["params.a"].iloc[-1] == pytest.approx(MOVIES_A_AFTER_300, rel=1e-9)
        assert run.plot("loss").content.startswith(b"\x89PNG")
        assert run.predict([100.0]).predictions[0] == pytest.approx(
            MOVIES_A_AFTER_300 * 100 + run.result["params"]["b"], rel=1e-9
        )

        second = client.runs.create(
            kind=movies.kind,
            dataset=movies,
            features=movies.features,
            target=movies.target,
            learning_rate=1e-3,
            epochs=300,
        )
        assert second.wait(progress=False).status == "diverged"
        assert second.error["code"] == "diverged"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readme_walkthrough_runs_as_written(
    live_url: str,
    session_factory: sessionmaker[Session],
    worker: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every line of sdk/README.md's Python blocks works against a live server."""
    with session_factory() as session:
        _, key = keys.create(session=session, owner="reader")
    monkeypatch.setenv("DESCENT_URL", live_url)
    monkeypatch.setenv("DESCENT_API_KEY", key)
    monkeypatch.chdir(tmp_path)
    readme = (Path(__file__).parents[2] / "sdk" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    walkthrough = [line for line in blocks[0].splitlines() if line.strip()]
    assert len(walkthrough) == 10
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "0.0714" in out  # the notebook's a after 300 epochs
    for name in ("descent-path.png", "learning-rates.png", "boundary.gif"):
        assert (tmp_path / name).stat().st_size > 1000
    sweep = namespace["sweep"]
    assert isinstance(sweep, descent.Sweep)
    rates = {r.hyperparameters["learning_rate"]: r.status for r in sweep.runs}
    assert rates == {1e-3: "diverged", 1e-12: "succeeded", 2e-10: "succeeded"}
    assert sweep.best_run is not None and sweep.best_run.hyperparameters["learning_rate"] == 2e-10
