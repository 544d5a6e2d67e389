"""The asyncio client: the same operations as `Client`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx

from . import _ops as ops
from ._async_resources import AsyncRuns, AsyncSweeps
from ._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_RETRY_S,
    BaseClient,
    Event,
    Op,
    Request,
    SSEDecoder,
)
from ._domain import is_final
from ._exceptions import TransportError, error_for
from ._lr_range import AsyncLrRangeTest
from ._lr_range import create as create_lr_range_test
from ._models import BuiltinDataset, Dataset

T = TypeVar("T")
_STREAM = Request("GET", "/events")


class AsyncClient(BaseClient):
    """An asyncio connection to a descent server; use it with `async with`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = 0.5,
        wait_retry_s: float = DEFAULT_WAIT_RETRY_S,
    ) -> None:
        if base_url is None and http_client is not None:
            base_url = str(http_client.base_url)
        super().__init__(base_url, api_key, timeout, max_retries, backoff, wait_retry_s)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, transport=transport)
        self.datasets = AsyncDatasets(self)
        self.runs = AsyncRuns(self)
        self.sweeps = AsyncSweeps(self)

    async def lr_range_test(
        self,
        *,
        run: Mapping[str, Any],
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        steps: int = 100,
    ) -> AsyncLrRangeTest:
        """Start a learning-rate range test of a run request (see Client.lr_range_test)."""
        data = await self.execute(create_lr_range_test(run, min_lr, max_lr, steps))
        return AsyncLrRangeTest(**AsyncLrRangeTest.parse(data), client=self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (not an http_client that was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def send(self, request: Request) -> httpx.Response:
        """Send one request, retrying idempotent ones on 429/503 and connection errors."""
        attempt = 0
        while True:
            response = None
            try:
                response = await self._http.request(
                    request.method,
                    self._url(request.path),
                    params=request.params,
                    json=request.json,
                    files=request.files,
                    data=request.data,
                    headers=self._headers(request.headers),
                    **self._timeout_option(),
                )
            except httpx.TransportError as exc:
                if not self._should_retry(request, attempt, None):
                    raise TransportError(self.transport_error(request, exc)) from exc
            else:
                status = response.status_code
                if status < 400 or status in request.accept:
                    return response
                if not self._should_retry(request, attempt, status):
                    raise error_for(response)
            await asyncio.sleep(self._delay(attempt, response))
            attempt += 1

    async def execute(self, op: Op[T]) -> T:
        """Drive an operation: send each request it yields, hand back the response."""
        try:
            request = next(op)
            while True:
                request = op.send(await self.send(request))
        except StopIteration as done:
            value: T = done.value
            return value

    async def stream_events(
        self,
        path: str,
        *,
        last_event_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        """Yield Server-Sent Events, reconnecting with Last-Event-ID after a dropped link."""
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            response = None
            try:
                async with self._http.stream(
                    "GET",
                    self._url(path),
                    params=ops._clean(params),
                    headers=self._headers(headers),
                    **self._timeout_option(stream=True),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        if not self._should_retry(_STREAM, failures, response.status_code):
                            raise error_for(response)
                    else:
                        decoder = SSEDecoder()
                        async for line in response.aiter_lines():
                            event = decoder.feed(line)
                            if event is None:
                                continue
                            failures = 0
                            if event.id is not None:
                                last_event_id = event.id
                            yield event
                            if event.event == "status" and is_final(event.data):
                                return
            except httpx.TransportError as exc:
                if failures >= self.max_retries:
                    raise TransportError(self.transport_error(_stream(path), exc)) from exc
            params = {k: v for k, v in (params or {}).items() if k != "since_epoch"}
            failures += 1
            if failures > self.max_retries:
                raise TransportError(f"event stream {self._url(path)} keeps closing early")
            await asyncio.sleep(self._delay(failures - 1, response))


class AsyncDatasets:
    """`client.datasets` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(
        self,
        source: Any,
        name: str | None = None,
        *,
        idempotency_key: str | None = None,
        dedupe: bool = True,
    ) -> Dataset:
        """Upload a CSV file path, a pandas DataFrame or a {column: values} dict.

        Contents identical to one of your datasets return that one (`dedupe=False`: a copy).
        """
        op = ops.upload_dataset(source, name, idempotency_key, dedupe)
        return Dataset.from_json(await self._client.execute(op))

    async def builtins(self) -> list[BuiltinDataset]:
        """List the course's ready-made datasets."""
        return [BuiltinDataset.from_json(d) for d in await self._client.execute(ops.builtins())]

    async def builtin(self, name: str) -> BuiltinDataset:
        """Return a builtin dataset by name."""
        return BuiltinDataset.from_json(await self._client.execute(ops.builtin(name)))

    async def list(self, *, limit: int | None = None) -> list[Dataset]:
        """List your datasets."""
        items = await self._client.execute(ops.paginate("/v1/datasets", {}, limit))
        return [Dataset.from_json(d) for d in items]

    async def get(self, dataset_id: str) -> Dataset:
        """Fetch one dataset's description."""
        return Dataset.from_json(await self._client.execute(ops.get(f"/v1/datasets/{dataset_id}")))

    async def download(self, dataset_id: str) -> bytes:
        """Return a dataset's rows as CSV bytes."""
        return (await self._client.execute(ops.raw(f"/v1/datasets/{dataset_id}/data.csv")))[0]

    async def delete(self, dataset_id: str) -> None:
        """Delete a dataset."""
        await self._client.execute(ops.delete(f"/v1/datasets/{dataset_id}"))


def _stream(path: str) -> Request:
    return Request("GET", path)
