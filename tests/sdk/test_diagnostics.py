"""Diagnoses in the SDK and CLI: `run.diagnostics`, diagnosis events, `wait()` printing them.

The findings are written to the run row with the epochs they came from, as the worker's
history writer does; the real app serves them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import descent
import httpx
import pytest
from descent._cli import main

from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.repository import history
from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

MOVIES: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
}
UNSCALED: dict[str, Any] = {
    "code": "unscaled_features",
    "severity": "warning",
    "epoch": 2,
    "message": "The features' scales differ by a factor of 4.1e+04: b has barely moved.",
    "hint": "normalize: standard",
    "evidence": {"scale_ratio": 41000.0, "b_moved": 1.2e-07},
}
DIVERGING: dict[str, Any] = {
    "code": "diverging",
    "severity": "error",
    "epoch": 7,
    "message": "The loss has risen for 5 epochs in a row, by 1e+03 times.",
    "hint": "learning_rate below 1.3e-08 (= 2/λ_max)",
    "evidence": {"rising_epochs": 5, "lr_max": 1.3e-08},
}


def store(writer: RunWriter, epochs: range, diagnostics: list[dict[str, Any]]) -> None:
    """Append regression epochs and set run.diagnostics in one fenced write (the worker's)."""
    records = [
        EpochRecord(epoch=e, loss=100.0 / (e + 1), params={"a": e / 10, "b": 1.0}) for e in epochs
    ]
    with session_factory() as session:
        assert history.append_epochs(
            session, writer.run_id, writer.attempt, records, diagnostics=diagnostics
        )
        session.commit()


def train_with_findings(run_id: str) -> None:
    """Play the worker: an unscaled finding at epoch 2, diverging at 7, then diverged."""
    writer = RunWriter(run_id)
    store(writer, range(0, 3), [UNSCALED])
    time.sleep(0.05)
    store(writer, range(3, 8), [UNSCALED, DIVERGING])
    writer.finish("diverged")


def finished_run(client: descent.Client) -> descent.Run:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
    train_with_findings(run.id)
    return run


def test_diagnosis_reads_as_severity_code_message_and_hint() -> None:
    diagnosis = descent.Diagnosis.from_json(UNSCALED)
    assert diagnosis.evidence == {"scale_ratio": 41000.0, "b_moved": 1.2e-07}
    assert str(diagnosis) == (
        "WARNING unscaled_features at epoch 2: The features' scales differ by a factor of "
        "4.1e+04: b has barely moved.\n  hint: normalize: standard"
    )


def test_run_diagnostics_are_typed(client: descent.Client) -> None:
    run = finished_run(client)
    assert run.diagnostics == []  # before the worker found anything
    run.refresh()
    assert [(d.code, d.severity, d.epoch) for d in run.diagnostics] == [
        ("unscaled_features", "warning", 2),
        ("diverging", "error", 7),
    ]
    assert run.diagnostics[1].hint == "learning_rate below 1.3e-08 (= 2/λ_max)"
    assert run.diagnostics[1].evidence["lr_max"] == 1.3e-08
    listed = client.runs.list()
    assert [d.code for d in listed[0].diagnostics] == ["unscaled_features", "diverging"]


def test_events_yield_each_diagnosis_after_its_epoch(client: descent.Client) -> None:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
    thread = threading.Thread(target=train_with_findings, args=(run.id,))
    thread.start()
    events = list(run.events())
    thread.join()
    found = [e.data for e in events if e.event == "diagnosis"]
    assert [d.code for d in found] == ["unscaled_features", "diverging"]
    assert all(isinstance(d, descent.Diagnosis) for d in found)
    # Each comes after the epoch it was found at.
    for diagnosis in found:
        at = next(i for i, e in enumerate(events) if e.event == "diagnosis" and e.data == diagnosis)
        epochs = [e.data["epoch"] for e in events[:at] if e.event == "epoch"]
        assert diagnosis.epoch in epochs
    assert [d.code for d in run.diagnostics] == ["unscaled_features", "diverging"]
    assert run.status == "diverged"


def test_wait_prints_each_new_diagnosis_once_with_its_hint(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
    thread = threading.Thread(target=train_with_findings, args=(run.id,))
    thread.start()
    run.wait(progress=True, timeout=60)
    thread.join()
    out = capsys.readouterr().out
    assert out.count("WARNING unscaled_features at epoch 2") == 1
    assert out.count("ERROR diverging at epoch 7") == 1
    assert "hint: normalize: standard" in out
    assert "hint: learning_rate below 1.3e-08 (= 2/λ_max)" in out
    assert out.index("unscaled_features") < out.index("diverging")
    assert [d.code for d in run.diagnostics] == ["unscaled_features", "diverging"]


def test_wait_without_progress_prints_nothing(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run = finished_run(client)
    run.wait(progress=False)
    assert capsys.readouterr().out == ""
    assert len(run.diagnostics) == 2


def test_wait_prints_diagnoses_when_it_polls(
    client: descent.Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_stream(*args: Any, **kwargs: Any) -> Any:
        raise descent.TransportError("event streams are blocked here")
        yield  # a generator, like the real one

    monkeypatch.setattr(client, "stream_events", no_stream)
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
    thread = threading.Timer(0.2, train_with_findings, args=(run.id,))
    thread.start()
    run.wait(progress=True, poll_interval=0.05, timeout=60)
    thread.join()
    out = capsys.readouterr().out
    assert out.count("unscaled_features") == 1 and out.count("ERROR diverging") == 1


def test_cli_get_and_watch_print_diagnoses(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run = finished_run(client)
    assert main(["runs", "get", run.id], client=client) == 0
    out = capsys.readouterr().out
    assert "diagnoses:" in out
    assert "WARNING unscaled_features at epoch 2: The features' scales differ" in out
    assert "hint: normalize: standard" in out
    assert "ERROR diverging at epoch 7" in out
    assert main(["runs", "watch", run.id, "--no-progress"], client=client) == 1
    assert "hint: learning_rate below 1.3e-08" in capsys.readouterr().out
    assert main(["runs", "get", run.id, "--json"], client=client) == 0
    raw = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in raw["diagnostics"]] == ["unscaled_features", "diverging"]


def test_cli_watch_prints_diagnoses_as_they_arrive(
    client: descent.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run = client.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
    thread = threading.Timer(0.2, train_with_findings, args=(run.id,))
    thread.start()
    code = main(["runs", "watch", run.id, "--wait-timeout", "60"], client=client)
    thread.join()
    out = capsys.readouterr().out
    assert code == 1  # diverged
    # Once as it arrived, once in the summary of the final run.
    assert out.count("ERROR diverging at epoch 7") == 2
    assert out.index("ERROR diverging") < out.index(f"{run.id}  linear_regression  diverged")


def test_async_run_events_and_wait_print_diagnoses(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    transport = httpx.ASGITransport(app=server.http.app)

    async def go() -> None:
        async with descent.AsyncClient("http://asgi", api_key=server.key, transport=transport) as c:
            run = await c.runs.create(**MOVIES, learning_rate=2e-10, epochs=10)
            await asyncio.to_thread(train_with_findings, run.id)
            found = [e.data async for e in run.events() if e.event == "diagnosis"]
            assert [d.code for d in found] == ["unscaled_features", "diverging"]
            assert run.diagnostics == found
            capsys.readouterr()
            await c.runs.wait(run.id, progress=True)
            out = capsys.readouterr().out
            assert out.count("hint: normalize: standard") == 1 and "ERROR diverging" in out

    asyncio.run(go())
