"""The client's retry policy and error mapping, against a scripted httpx.MockTransport.

These tests are about the client's own logic (which calls are retried, how often, with
which delays, what exception comes out), so a scripted transport is the right tool here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import descent
import httpx
import pytest
from descent import _client as client_module
from descent._base import MAX_BACKOFF, BaseClient, Request
from descent._exceptions import error_for

RUN = {"id": "r1", "kind": "linear_regression", "status": "queued", "progress": {"epochs": 5}}


def scripted(*answers: Any) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering each request with the next item (a Response or an exception)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def ok(body: Any = RUN, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def fail(status: int, detail: Any = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail}, headers=headers)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", delays.append)
    return delays


def make(transport: httpx.MockTransport, **options: Any) -> descent.Client:
    return descent.Client("http://api.test", api_key="k", transport=transport, **options)


def test_get_is_retried_on_503_then_succeeds(sleeps: list[float]) -> None:
    transport, seen = scripted(fail(503), fail(503), ok())
    with make(transport) as client:
        assert client.runs.get("r1").id == "r1"
    assert len(seen) == 3 and len(sleeps) == 2
    assert all(r.headers["Authorization"] == "Bearer k" for r in seen)


def test_retries_give_up_after_max_retries(sleeps: list[float]) -> None:
    transport, seen = scripted(fail(503, "database down"))
    with make(transport, max_retries=2) as client, pytest.raises(descent.ServiceUnavailable) as e:
        client.runs.get("r1")
    assert len(seen) == 3 and e.value.status == 503 and e.value.detail == "database down"
    assert isinstance(e.value, descent.ServerError)


def test_429_honours_retry_after(sleeps: list[float]) -> None:
    transport, seen = scripted(fail(429, "slow down", **{"Retry-After": "7"}), ok())
    with make(transport) as client:
        client.runs.get("r1")
    assert sleeps == [7.0]


def test_rate_limited_carries_retry_after(sleeps: list[float]) -> None:
    transport, _ = scripted(fail(429, "slow down", **{"Retry-After": "3"}))
    with make(transport, max_retries=0) as client, pytest.raises(descent.RateLimited) as e:
        client.runs.list()
    assert e.value.retry_after == 3.0


def test_connection_errors_are_retried_for_gets(sleeps: list[float]) -> None:
    transport, seen = scripted(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok())
    with make(transport) as client:
        assert client.runs.get("r1").status == "queued"
    assert len(seen) == 3


def test_connection_errors_surface_as_transport_error(sleeps: list[float]) -> None:
    transport, seen = scripted(httpx.ConnectError("refused"))
    with make(transport, max_retries=1) as client, pytest.raises(descent.TransportError):
        client.runs.get("r1")
    assert len(seen) == 2


def test_run_submission_is_retried_with_the_same_idempotency_key(sleeps: list[float]) -> None:
    transport, seen = scripted(fail(503), httpx.ConnectError("reset"), ok(status=202))
    with make(transport) as client:
        client.runs.create(
            kind="linear_regression",
            dataset="builtin:movies",
            features=["num_want_to_see"],
            target="nums_audience",
        )
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1


def test_posts_without_idempotency_are_not_retried(sleeps: list[float]) -> None:
    transport, seen = scripted(fail(503))
    with make(transport) as client, pytest.raises(descent.ServiceUnavailable):
        client.sweeps.create(
            run={
                "kind": "linear_regression",
                "dataset": "builtin:movies",
                "features": ["x"],
                "target": "y",
            },
            grid={"epochs": [1, 2]},
        )
    assert len(seen) == 1
    transport, seen = scripted(httpx.ConnectError("refused"))
    with make(transport) as client, pytest.raises(descent.TransportError):
        client.sweeps.create(
            run={"kind": "linear_regression", "dataset": "d", "features": ["x"], "target": "y"},
            grid={"epochs": [1]},
        )
    assert len(seen) == 1 and sleeps == []


def test_other_errors_are_not_retried(sleeps: list[float]) -> None:
    for status in (400, 404, 409, 500):
        transport, seen = scripted(fail(status))
        with make(transport) as client, pytest.raises(descent.APIError):
            client.runs.get("r1")
        assert len(seen) == 1
    assert sleeps == []


def test_backoff_grows_and_is_capped() -> None:
    base = BaseClient("http://x", None, 1.0, 3, backoff=1.0)
    assert all(0 <= base._delay(0, None) <= 1.0 for _ in range(50))
    assert all(0 <= base._delay(3, None) <= 8.0 for _ in range(50))
    assert all(base._delay(30, None) <= MAX_BACKOFF for _ in range(50))
    hinted = httpx.Response(429, headers={"Retry-After": "1000"})
    assert base._delay(0, hinted) == MAX_BACKOFF


def test_retryable_requests() -> None:
    assert Request("GET", "/").retryable and Request("DELETE", "/").retryable
    assert not Request("POST", "/").retryable
    assert Request("POST", "/", headers={"Idempotency-Key": "x"}).retryable
    assert not Request("POST", "/", headers={"Idempotency-Key": "x"}, idempotent=False).retryable


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, descent.BadRequest),
        (401, descent.Unauthorized),
        (404, descent.NotFound),
        (409, descent.Conflict),
        (413, descent.PayloadTooLarge),
        (422, descent.ValidationError),
        (429, descent.RateLimited),
        (500, descent.ServerError),
        (502, descent.ServerError),
        (503, descent.ServiceUnavailable),
        (418, descent.APIError),
    ],
)
def test_error_mapping(status: int, cls: type[descent.APIError]) -> None:
    error = error_for(fail(status, "why"))
    assert type(error) is cls and error.status == status and error.detail == "why"
    assert isinstance(error, descent.DescentError) and str(error) == f"{status}: why"


def test_validation_error_carries_the_detail_list() -> None:
    detail = [{"loc": ["body", "hyperparameters", "epochs"], "msg": "too large"}]
    error = error_for(fail(422, detail))
    assert isinstance(error, descent.ValidationError) and isinstance(error, descent.BadRequest)
    assert error.errors == detail
    assert str(error) == "422: body.hyperparameters.epochs: too large"


def test_non_json_error_body() -> None:
    error = error_for(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(error, descent.ServerError) and "bad gateway" in str(error.detail)


def test_async_client_retries_too(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr("descent._async_client.asyncio.sleep", no_sleep)
    seen: list[httpx.Request] = []
    answers: list[Callable[[], httpx.Response]] = [lambda: fail(503), lambda: ok()]

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)()

    async def go() -> str:
        async with descent.AsyncClient(
            "http://api.test", transport=httpx.MockTransport(handle)
        ) as c:
            return (await c.runs.get("r1")).status

    assert asyncio.run(go()) == "queued" and len(seen) == 2
