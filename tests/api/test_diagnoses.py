"""Run.diagnostics and `event: diagnosis`: stored with their epochs under the lease, each sent
once after its epoch's row and before the status that carries it, resumed without repeats."""

from __future__ import annotations

from typing import Any

import pytest

from descent_server.db.models import Run
from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.repository import history
from tests.api.helpers import MOVIES_RUN
from tests.api.test_events import read_all, sse, submit
from tests.sdk.run_writer import RunWriter

pytestmark = pytest.mark.timeout(120)


def finding(code: str, severity: str, epoch: int) -> dict[str, Any]:
    """Return a finding as the engine makes it (ml/diagnostics)."""
    return {
        "code": code, "severity": severity, "epoch": epoch, "message": f"{code} found",
        "hint": "normalize: standard", "evidence": {"ratio": 1e4, "names": "x", "n": 3,
                                                     "losses": [1.0, 2.0], "best": None},
    }  # fmt: skip


UNSCALED = finding("unscaled_features", "warning", 0)
STUCK = finding("unscaled_features", "error", 15)
PLATEAU = finding("plateau", "warning", 18)


def write(writer: RunWriter, epochs: range, found: list[dict[str, Any]] | None) -> bool:
    """Store regression-like epochs and the run's whole findings list, as the worker does."""
    records = [EpochRecord(epoch=e, loss=100.0 / (e + 1), params={"a": e, "b": 1.0})
               for e in epochs]  # fmt: skip
    with session_factory() as session:
        ok = history.append_epochs(session, writer.run_id, writer.attempt, records, None, found)
        session.commit()
    return ok


def trained(api: Any) -> str:
    """Return a finished run whose findings came at epochs 0, 15 and 18."""
    run_id = submit(api)
    writer = RunWriter(run_id)
    assert write(writer, range(0, 10), [UNSCALED])
    assert write(writer, range(10, 16), [UNSCALED, STUCK])
    assert write(writer, range(16, 21), [UNSCALED, STUCK, PLATEAU])
    writer.finish()
    return run_id


def kinds_of(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Return (event, epoch id or diagnosis code/epoch or status) in stream order."""
    out: list[tuple[str, Any]] = []
    for e in events:
        if e["event"] == "epoch":
            out.append(("epoch", int(e["id"])))
        elif e["event"] == "diagnosis":
            out.append(("diagnosis", (e["data"]["code"], e["data"]["epoch"])))
        else:
            out.append((e["event"], e["data"]["status"]))
    return out


def test_run_has_typed_diagnostics_in_the_order_found(api: Any) -> None:
    run_id = trained(api)
    run = api.client.get(f"/v1/runs/{run_id}", headers=api.a).json()
    assert run["diagnostics"] == [UNSCALED, STUCK, PLATEAU]  # every number as stored
    fresh = api.client.post("/v1/runs", json={**MOVIES_RUN, "name": "new"}, headers=api.a).json()
    assert fresh["diagnostics"] == []  # none before it trains
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["Diagnosis"]
    assert set(schema["required"]) == {"code", "severity", "epoch", "message", "hint", "evidence"}


def test_each_diagnosis_follows_its_epoch_and_precedes_the_final_status(api: Any) -> None:
    events = read_all(api, trained(api), headers=api.a)
    order = kinds_of(events)
    diagnoses = [item for kind, item in order if kind == "diagnosis"]
    assert diagnoses == [("unscaled_features", 0), ("unscaled_features", 15), ("plateau", 18)]
    for code, epoch in diagnoses:  # never before the row of the epoch it was found at
        assert order.index(("epoch", epoch)) < order.index(("diagnosis", (code, epoch)))
    assert order[-1] == ("status", "succeeded")
    assert order.index(("diagnosis", ("plateau", 18))) < len(order) - 1
    sent = [e["data"] for e in events if e["event"] == "diagnosis"]
    assert sent == [UNSCALED, STUCK, PLATEAU]  # the finding itself is the data
    assert all("id" not in e for e in events if e["event"] == "diagnosis")


@pytest.mark.parametrize(
    ("last", "expected"),
    [("-1", [0, 15, 18]), ("12", [15, 18]), ("15", [18]), ("20", [])],
)
def test_a_resumed_stream_sends_the_diagnoses_after_its_last_epoch(
    api: Any, last: str, expected: list[int]
) -> None:
    events = read_all(api, trained(api), headers={**api.a, "Last-Event-ID": last})
    assert [e["data"]["epoch"] for e in events if e["event"] == "diagnosis"] == expected
    assert events[-1]["event"] == "status"


def test_a_status_only_stream_still_sends_every_diagnosis(api: Any) -> None:
    run_id = trained(api)
    events = read_all(api, run_id, headers=api.a, params={"epochs": "false"})
    assert [e["event"] for e in events] == ["diagnosis"] * 3 + ["status"]


def test_a_live_stream_gets_a_diagnosis_written_while_it_listens(api: Any) -> None:
    run_id = submit(api)
    writer = RunWriter(run_id)
    assert write(writer, range(0, 5), None)
    with api.client.stream("GET", f"/v1/runs/{run_id}/events", headers=api.a) as response:
        lines = sse(response.iter_lines())
        seen: list[dict[str, Any]] = []
        for event in lines:  # the backlog: epochs 0-4, then a status
            if "comment" in event:
                continue
            seen.append(event)
            if event["event"] == "status":
                break
        assert not [e for e in seen if e["event"] == "diagnosis"]
        assert write(writer, range(5, 8), [finding("diverging", "error", 6)])
        writer.finish("diverged")
        rest = [e for e in lines if "comment" not in e]
    order = [item for item in kinds_of(rest) if item != ("status", "running")]
    assert order == [("epoch", 5), ("epoch", 6), ("epoch", 7), ("diagnosis", ("diverging", 6)),
                     ("status", "diverged")]  # fmt: skip


def test_findings_are_fenced_by_the_lease_and_bump_the_version(api: Any) -> None:
    run_id = submit(api)
    writer = RunWriter(run_id)
    assert write(writer, range(0, 3), None)
    with session_factory() as session:
        before = session.get(Run, run_id)
        assert before is not None and before.diagnostics == []
        version = before.version
    assert write(writer, range(3, 4), [UNSCALED])
    stale = RunWriter.__new__(RunWriter)
    stale.run_id, stale.attempt = run_id, writer.attempt - 1
    assert not write(stale, range(4, 5), [UNSCALED, PLATEAU])  # an older attempt: refused
    with session_factory() as session:
        after = session.get(Run, run_id)
        assert after is not None
        assert after.diagnostics == [UNSCALED] and after.version == version + 1
