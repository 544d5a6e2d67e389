"""The synchronous client: `Client` and its `datasets`, `runs` and `sweeps` resources."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import httpx

from . import _ops as ops
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
from ._exceptions import TransportError, WaitTimeout, error_for
from ._lr_range import LrRangeTest
from ._lr_range import create as create_lr_range_test
from ._models import BuiltinDataset, Dataset
from ._resources import Runs, Sweeps

T = TypeVar("T")
_STREAM = Request("GET", "/events")  # the retry policy of an event stream: a GET


class Client(BaseClient):
    """A connection to a descent server; use it as a context manager.

    `base_url` and `api_key` default to $DESCENT_URL and $DESCENT_API_KEY. Pass
    `transport=` (any httpx transport) or `http_client=` (an httpx.Client such as
    Starlette's TestClient) to talk to something other than the network. A URL ending in
    /v1 is accepted with a warning (the client adds /v1 itself). `wait_retry_s`: how long
    `wait()` keeps retrying through an API restart before it gives up.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = 0.5,
        wait_retry_s: float = DEFAULT_WAIT_RETRY_S,
    ) -> None:
        if base_url is None and http_client is not None:
            base_url = str(http_client.base_url)
        super().__init__(base_url, api_key, timeout, max_retries, backoff, wait_retry_s)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, transport=transport)
        self.datasets = Datasets(self)
        self.runs = Runs(self)
        self.sweeps = Sweeps(self)

    def lr_range_test(
        self,
        *,
        run: Mapping[str, Any],
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        steps: int = 100,
    ) -> LrRangeTest:
        """Start a learning-rate range test of a run request (as for runs.create, e.g.
        `{"kind": ..., "dataset": ..., "features": ..., "target": ..., "hyperparameters": ...}`);
        `.wait()` for `.suggested_learning_rate`, `.plot()` for the curve."""
        data = self.execute(create_lr_range_test(run, min_lr, max_lr, steps))
        return LrRangeTest(**LrRangeTest.parse(data), client=self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (not an http_client that was passed in)."""
        if self._owns_http:
            self._http.close()

    def send(self, request: Request) -> httpx.Response:
        """Send one request, retrying idempotent ones on 429/503 and connection errors."""
        attempt = 0
        while True:
            response = None
            try:
                response = self._http.request(
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
            time.sleep(self._delay(attempt, response))
            attempt += 1

    def execute(self, op: Op[T]) -> T:
        """Drive an operation: send each request it yields, hand back the response."""
        try:
            request = next(op)
            while True:
                request = op.send(self.send(request))
        except StopIteration as done:
            value: T = done.value
            return value

    def stream_events(
        self,
        path: str,
        *,
        last_event_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Iterator[Event]:
        """Yield Server-Sent Events, reconnecting with Last-Event-ID after a dropped link."""
        failures, url = 0, self._url(path)
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            response = None
            try:
                with self._http.stream(
                    "GET",
                    self._url(path),
                    params=ops._clean(params),
                    headers=self._headers(headers),
                    **self._timeout_option(stream=True, deadline=deadline),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        if not self._should_retry(_STREAM, failures, response.status_code):
                            raise error_for(response)
                    else:
                        decoder = SSEDecoder()
                        for line in response.iter_lines():
                            if deadline is not None and time.monotonic() > deadline:
                                raise WaitTimeout(f"gave up waiting for events from {url}")
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
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeout(f"gave up waiting for events from {url}") from exc
                if failures >= self.max_retries:
                    raise TransportError(self.transport_error(_stream(path), exc)) from exc
            # The stream ended without a final status (server restart): resume it.
            params = {k: v for k, v in (params or {}).items() if k != "since_epoch"}
            failures += 1
            if failures > self.max_retries:
                raise TransportError(f"event stream {self._url(path)} keeps closing early")
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"gave up waiting for events from {url}")
            time.sleep(self._delay(failures - 1, response))


class Datasets:
    """`client.datasets`: upload, list, fetch and delete datasets."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(
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
        data = self._client.execute(ops.upload_dataset(source, name, idempotency_key, dedupe))
        return Dataset.from_json(data)

    def builtins(self) -> list[BuiltinDataset]:
        """List the course's ready-made datasets (movies, three-blobs, linear-noise)."""
        return [BuiltinDataset.from_json(d) for d in self._client.execute(ops.builtins())]

    def builtin(self, name: str) -> BuiltinDataset:
        """Return a builtin dataset by name (use it as `dataset=`)."""
        return BuiltinDataset.from_json(self._client.execute(ops.builtin(name)))

    def list(self, *, limit: int | None = None) -> list[Dataset]:
        """List your datasets, newest first (all pages, or the first `limit`)."""
        items = self._client.execute(ops.paginate("/v1/datasets", {}, limit))
        return [Dataset.from_json(d) for d in items]

    def get(self, dataset_id: str) -> Dataset:
        """Fetch one dataset's description."""
        return Dataset.from_json(self._client.execute(ops.get(f"/v1/datasets/{dataset_id}")))

    def download(self, dataset_id: str) -> bytes:
        """Return a dataset's rows as CSV bytes."""
        return self._client.execute(ops.raw(f"/v1/datasets/{dataset_id}/data.csv"))[0]

    def delete(self, dataset_id: str) -> None:
        """Delete a dataset (Conflict while a run uses it)."""
        self._client.execute(ops.delete(f"/v1/datasets/{dataset_id}"))


def _stream(path: str) -> Request:
    return Request("GET", path)
