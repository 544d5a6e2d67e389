"""client.runs and Run against the real app; a RunWriter stores progress as a worker does."""

from __future__ import annotations

import threading
import time
from typing import Any

import descent
import httpx
import pytest

from descent_server.api.routes import events as events_route
from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter

MOVIES: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
}


def create(client: descent.Client, **hyperparameters: Any) -> descent.Run:
    return client.runs.create(**MOVIES, **{"learning_rate": 2e-10, "epochs": 50, **hyperparameters})


def train_later(run_id: str, epochs: int = 51, status: str = "succeeded") -> threading.Thread:
    """Store epochs in the background, a few at a time, then finish."""

    def work() -> None:
        worker = RunWriter(run_id)
        for start in range(0, epochs, 10):
            time.sleep(0.05)
            worker.epochs(range(start, min(start + 10, epochs)))
        worker.finish(status, result={"final_loss": 1.0})

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_create_fills_fields_and_enqueues(client: descent.Client, server: Server) -> None:
    run = client.runs.create(
        **MOVIES, name="lesson", learning_rate=2e-10, epochs=50, init={"a": -0.75, "b": 0}
    )
    assert isinstance(run, descent.Run) and run.client is client
    assert run.status == "queued" and not run.done
    assert run.name == "lesson" and run.kind == "linear_regression"
    assert run.hyperparameters["init"] == {"a": -0.75, "b": 0}
    assert run.hyperparameters["gradient"] == "course"  # defaults filled in by the server
    assert run.progress == descent.Progress(None, 50)
    assert run.analysis["lr_verdict"] == "converges"
    assert run.created_at is not None
    assert server.enqueued == [run.id]


def test_create_accepts_a_dataset_object_and_comma_features(client: descent.Client) -> None:
    blobs = client.datasets.builtin("three-blobs")
    run = client.runs.create(
        kind="mlp_classifier", dataset=blobs, features="x1, x2", target="label", epochs=3
    )
    assert run.dataset_id == "builtin:three-blobs" and run.features == ["x1", "x2"]


def test_idempotency_key_replays_and_conflicts(client: descent.Client) -> None:
    first = create(client, idempotency_key="abc")
    assert create(client, idempotency_key="abc").id == first.id
    with pytest.raises(descent.Conflict):
        create(client, idempotency_key="abc", epochs=51)


def test_unknown_hyperparameter_is_a_validation_error(client: descent.Client) -> None:
    with pytest.raises(descent.ValidationError) as caught:
        create(client, learning_rat=0.1)
    assert caught.value.status == 422
    assert any("learning_rat" in str(e.get("loc")) + e["msg"] for e in caught.value.errors)


def test_get_refresh_list_cancel_delete(client: descent.Client) -> None:
    run = create(client)
    other = create(client, epochs=10)
    assert client.runs.get(run.id).id == run.id
    assert {r.id for r in client.runs.list()} == {run.id, other.id}
    assert [r.id for r in client.runs.list(limit=1)] == [other.id]  # newest first
    assert client.runs.list(status="running") == []
    assert run.cancel() is run and run.status == "cancelled" and run.done
    assert {r.id for r in client.runs.list(status="cancelled")} == {run.id}
    with pytest.raises(descent.Conflict):
        run.cancel()  # already final
    RunWriter(other.id).epochs(range(3))
    assert other.refresh().status == "running" and other.progress.epoch == 2
    other.delete()
    with pytest.raises(descent.NotFound):
        other.refresh()


def test_events_stream_every_epoch_then_final_status(client: descent.Client) -> None:
    run = create(client)
    thread = train_later(run.id)
    events = list(run.events())
    thread.join()
    epochs = [int(e.id) for e in events if e.event == "epoch"]
    assert epochs == list(range(51))
    assert events[-1].event == "status" and events[-1].data["status"] == "succeeded"
    assert run.status == "succeeded" and run.result == {"final_loss": 1.0}  # updated in place
    first = next(e for e in events if e.id == "1")
    assert first.data["params"] == {"a": 0.1, "b": 1.0} and first.data["loss"] == 50.0


def test_events_resume_from_last_event_id(client: descent.Client) -> None:
    run = create(client)
    worker = RunWriter(run.id)
    worker.epochs(range(0, 30))
    worker.finish()
    resumed = [int(e.id) for e in run.events(last_event_id=12) if e.event == "epoch"]
    assert resumed == list(range(13, 30))
    since = [int(e.id) for e in client.runs.events(run.id, since_epoch=27) if e.event == "epoch"]
    assert since == [28, 29]


def test_events_reconnect_after_a_dropped_connection(server: Server) -> None:
    """The first stream dies after a few events; the SDK resumes with Last-Event-ID."""
    sent: list[str | None] = []
    drop = {"after": 5}

    class Flaky(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.headers.get("Last-Event-ID"))
            response = server.http._transport.handle_request(request)
            if drop["after"] is None or not request.url.path.endswith("/events"):
                return response
            lines = response.stream

            def broken() -> Any:
                count = 0
                for chunk in lines:  # type: ignore[attr-defined]
                    yield chunk
                    count += chunk.count(b"event: epoch")
                    if count >= drop["after"]:
                        drop["after"] = None
                        raise httpx.ReadError("connection dropped")

            return httpx.Response(
                response.status_code, headers=response.headers, stream=_Stream(broken())
            )

    with descent.Client(
        "http://testserver", api_key=server.key, transport=Flaky(), backoff=0.01
    ) as sdk:
        run = sdk.runs.create(**MOVIES, learning_rate=2e-10, epochs=50)
        worker = RunWriter(run.id)
        worker.epochs(range(0, 20))
        worker.finish()
        epochs = [int(e.id) for e in sdk.runs.events(run.id) if e.event == "epoch"]
    assert epochs == list(range(20))  # no gap, no repeat
    resumed_from = [h for h in sent if h is not None]
    assert len(resumed_from) == 1 and int(resumed_from[0]) >= 4


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Any) -> None:
        self._chunks = chunks

    def __iter__(self) -> Any:
        return self._chunks


def test_wait_follows_the_stream(client: descent.Client) -> None:
    run = create(client)
    thread = train_later(run.id)
    assert run.wait(progress=True) is run
    thread.join()
    assert run.status == "succeeded" and run.succeeded
    assert run.progress == descent.Progress(50, 50)
    assert run.finished_at is not None


def test_wait_polls_with_etags_when_there_is_no_stream(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses: list[int] = []
    server.http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
    with server.client() as sdk:

        def no_stream(*args: Any, **kwargs: Any) -> Any:
            raise descent.TransportError("event streams are blocked here")
            yield  # a generator, like the real one

        monkeypatch.setattr(sdk, "stream_events", no_stream)
        run = sdk.runs.create(**MOVIES, learning_rate=2e-10, epochs=50)
        worker = RunWriter(run.id)
        worker.epochs(range(0, 5))
        thread = threading.Timer(0.3, worker.finish, kwargs={"status": "diverged"})
        thread.start()
        run.wait(progress=False, poll_interval=0.05)
        thread.join()
    assert run.status == "diverged" and not run.succeeded
    assert 304 in statuses  # unchanged polls cost a 304, not a body


def test_wait_timeout(client: descent.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "PING_INTERVAL_S", 0.1)  # the client checks between lines
    run = create(client)
    RunWriter(run.id)
    with pytest.raises(descent.WaitTimeout) as caught:
        run.wait(progress=False, timeout=0.3)
    # The message says which run and how far it had got.
    assert f"run {run.id}" in str(caught.value) and "last status running" in str(caught.value)


def test_wait_on_a_final_run_returns_at_once(client: descent.Client) -> None:
    run = create(client)
    run.cancel()
    assert run.wait(progress=False).status == "cancelled"


def test_other_owner_cannot_see_the_run(server: Server, client: descent.Client) -> None:
    run = create(client)
    with server.client(key=server.other_key) as bob:
        with pytest.raises(descent.NotFound) as caught:
            bob.runs.get(run.id)
        assert caught.value.status == 404
        assert bob.runs.list() == []
        with pytest.raises(descent.NotFound):
            list(bob.runs.events(run.id))
    with server.client(key="wrong") as nobody, pytest.raises(descent.Unauthorized):
        nobody.runs.list()
