"""The asyncio client: the same operations as `Client`, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from . import _ops as ops
from ._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    FINAL_STATUSES,
    BaseClient,
    Event,
    Op,
    Request,
    SSEDecoder,
)
from ._exceptions import ServerError, TransportError, WaitTimeout, error_for
from ._models import (
    Dataset,
    LossSurface,
    Plot,
    Prediction,
    RunFields,
    Snapshots,
    SweepFields,
    history_table,
    prediction_from_json,
    snapshots_from_json,
)

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
    ) -> None:
        if base_url is None and http_client is not None:
            base_url = str(http_client.base_url)
        super().__init__(base_url, api_key, timeout, max_retries, backoff)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, transport=transport)
        self.datasets = AsyncDatasets(self)
        self.runs = AsyncRuns(self)
        self.sweeps = AsyncSweeps(self)

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
                    raise TransportError(f"{request.method} {request.path}: {exc}") from exc
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
            return done.value

    async def stream_events(
        self, path: str, *, last_event_id: str | None = None, params: Mapping[str, Any] | None = None
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
                            if event.event == "status" and _final(event.data):
                                return
            except httpx.TransportError as exc:
                if failures >= self.max_retries:
                    raise TransportError(f"event stream {path}: {exc}") from exc
            params = {k: v for k, v in (params or {}).items() if k != "since_epoch"}
            failures += 1
            if failures > self.max_retries:
                raise TransportError(f"event stream {path} keeps closing early")
            await asyncio.sleep(self._delay(failures - 1, response))


@dataclass
class AsyncRun(RunFields):
    """A training run bound to an AsyncClient; its methods are coroutines."""

    _client: AsyncClient | None = field(default=None, repr=False, compare=False)

    @property
    def client(self) -> AsyncClient:
        """Return the client this run was fetched with."""
        if self._client is None:
            raise RuntimeError("this AsyncRun is not attached to an AsyncClient")
        return self._client

    async def refresh(self) -> AsyncRun:
        """Fetch the latest state of the run."""
        self._update((await self.client.runs.get(self.id)).raw)
        return self

    async def wait(self, timeout: float | None = None, poll_interval: float = 1.0) -> AsyncRun:
        """Wait until the run is final; return self."""
        self._update((await self.client.runs.wait(self.id, timeout, poll_interval)).raw)
        return self

    async def cancel(self) -> AsyncRun:
        """Stop the run within one epoch."""
        self._update((await self.client.runs.cancel(self.id)).raw)
        return self

    async def delete(self) -> None:
        """Delete the run."""
        await self.client.runs.delete(self.id)

    async def history(self, max_points: int | None = None, as_frame: bool | None = None) -> Any:
        """Return every epoch (a pandas DataFrame when pandas is installed)."""
        return await self.client.runs.history(self.id, max_points=max_points, as_frame=as_frame)

    def events(self, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        """Stream epoch and status events until the run is final."""
        return self.client.runs.events(self.id, last_event_id=last_event_id)

    async def plot(self, name: str = "loss", **params: Any) -> Plot:
        """Render a plot of this run."""
        return await self.client.runs.plot(self.id, name, **params)

    async def predict(self, inputs: Any) -> Prediction:
        """Predict with the run's latest parameters."""
        return await self.client.runs.predict(self.id, inputs)

    async def download_model(self, path: str | Path) -> Path:
        """Save the trained model to `path`."""
        return await self.client.runs.download_model(self.id, path)

    async def snapshots(self) -> Snapshots:
        """List the epochs with decision-boundary snapshots."""
        return snapshots_from_json(await self.client.execute(ops.get(self._path("/snapshots"))))

    async def loss_surface(self) -> LossSurface:
        """Return the regression's loss surface."""
        data = await self.client.execute(ops.get(self._path("/loss-surface")))
        return LossSurface.from_json(data)

    def _path(self, suffix: str) -> str:
        return f"/v1/runs/{self.id}{suffix}"


@dataclass
class AsyncSweep(SweepFields):
    """A sweep bound to an AsyncClient."""

    runs: list[AsyncRun] = field(default_factory=list)
    _client: AsyncClient | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], client: AsyncClient) -> AsyncSweep:
        """Build an AsyncSweep from the API JSON."""
        runs = [AsyncRun(**AsyncRun.parse(r), _client=client) for r in data.get("runs") or []]
        return cls(
            id=data["id"], status=data.get("status", ""), best_run_id=data.get("best_run_id"),
            name=data.get("name"), raw=data, runs=runs, _client=client,
        )  # fmt: skip

    @property
    def best_run(self) -> AsyncRun | None:
        """Return the best run, if any finished."""
        return next((r for r in self.runs if r.id == self.best_run_id), None)


class AsyncDatasets:
    """`client.datasets` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(self, source: Any, name: str | None = None) -> Dataset:
        """Upload a CSV file path, a pandas DataFrame or a {column: values} dict."""
        return Dataset.from_json(await self._client.execute(ops.upload_dataset(source, name)))

    async def builtins(self) -> list[Dataset]:
        """List the course's ready-made datasets."""
        return [Dataset.from_json(d) for d in await self._client.execute(ops.builtins())]

    async def builtin(self, name: str) -> Dataset:
        """Return a builtin dataset by name."""
        return Dataset.from_json(await self._client.execute(ops.builtin(name)))

    async def list(self, *, limit: int | None = None) -> list[Dataset]:
        """List your datasets."""
        items = await self._client.execute(ops.paginate("/v1/datasets", {}, limit))
        return [Dataset.from_json(d) for d in items]

    async def get(self, dataset_id: str) -> Dataset:
        """Fetch one dataset's description."""
        return Dataset.from_json(await self._client.execute(ops.get(f"/v1/datasets/{dataset_id}")))

    async def delete(self, dataset_id: str) -> None:
        """Delete a dataset."""
        await self._client.execute(ops.delete(f"/v1/datasets/{dataset_id}"))


class AsyncRuns:
    """`client.runs` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> AsyncRun:
        return AsyncRun(**AsyncRun.parse(data), _client=self._client)

    async def create(
        self,
        *,
        kind: str,
        dataset: Any,
        features: Sequence[str] | str,
        target: str,
        name: str | None = None,
        device: str = "auto",
        idempotency_key: str | None = None,
        **hyperparameters: Any,
    ) -> AsyncRun:
        """Submit a run; every other keyword argument is a hyperparameter."""
        body = ops.run_request(
            kind=kind, dataset=dataset, features=features, target=target, name=name,
            device=device, **hyperparameters,
        )  # fmt: skip
        return self._wrap(await self._client.execute(ops.create_run(body, idempotency_key)))

    async def get(self, run_id: str) -> AsyncRun:
        """Fetch a run."""
        return self._wrap(await self._client.execute(ops.get(f"/v1/runs/{run_id}")))

    async def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int | None = None
    ) -> list[AsyncRun]:
        """List your runs."""
        op = ops.paginate("/v1/runs", {"status": status, "kind": kind}, limit)
        return [self._wrap(r) for r in await self._client.execute(op)]

    async def cancel(self, run_id: str) -> AsyncRun:
        """Stop a run within one epoch."""
        return self._wrap(await self._client.execute(ops.cancel_run(run_id)))

    async def delete(self, run_id: str) -> None:
        """Delete a run."""
        await self._client.execute(ops.delete(f"/v1/runs/{run_id}"))

    async def history(
        self, run_id: str, *, max_points: int | None = None, as_frame: bool | None = None
    ) -> Any:
        """Return every epoch (a DataFrame with pandas, else a list of dicts)."""
        rows = await self._client.execute(ops.history(run_id, max_points))
        return history_table(rows, as_frame)

    def events(
        self, run_id: str, *, last_event_id: str | int | None = None, epochs: bool = True
    ) -> AsyncIterator[Event]:
        """Stream epoch and status events until the run is final (resumes on drops)."""
        last = None if last_event_id is None else str(last_event_id)
        params = {"epochs": None if epochs else False}
        path = f"/v1/runs/{run_id}/events"
        return self._client.stream_events(path, last_event_id=last, params=params)

    async def wait(
        self, run_id: str, timeout: float | None = None, poll_interval: float = 1.0
    ) -> AsyncRun:
        """Wait until the run is final: follow the event stream, poll if that fails."""
        data = await self._client.execute(ops.get(f"/v1/runs/{run_id}"))
        try:
            async with asyncio.timeout(timeout):
                if not _final(data):
                    try:
                        async for event in self.events(run_id, epochs=False):
                            if event.event == "status":
                                data = event.data
                    except (TransportError, ServerError):
                        pass  # no stream: poll instead
                while not _final(data):
                    await asyncio.sleep(poll_interval)
                    data = await self._client.execute(ops.get(f"/v1/runs/{run_id}"))
        except TimeoutError as exc:
            raise WaitTimeout(f"run {run_id} is still {data.get('status')}") from exc
        return self._wrap(data)

    async def plot(self, run_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a plot."""
        op = ops.raw(ops.plot_path(f"/v1/runs/{run_id}", name), params)
        content, media_type = await self._client.execute(op)
        return Plot(content, media_type.split(";")[0], name)

    async def predict(self, run_id: str, inputs: Any) -> Prediction:
        """Predict with the run's latest parameters."""
        return prediction_from_json(await self._client.execute(ops.predict(run_id, inputs)))

    async def download_model(self, run_id: str, path: str | Path) -> Path:
        """Save the trained model to `path`."""
        content, _ = await self._client.execute(ops.raw(f"/v1/runs/{run_id}/model"))
        path = Path(path)
        path.write_bytes(content)
        return path


class AsyncSweeps:
    """`client.sweeps` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self, *, run: Mapping[str, Any], grid: Mapping[str, Sequence[Any]], name: str | None = None
    ) -> AsyncSweep:
        """Submit a sweep."""
        data = await self._client.execute(ops.create_sweep(run, grid, name))
        return AsyncSweep.from_json(data, self._client)

    async def get(self, sweep_id: str) -> AsyncSweep:
        """Fetch a sweep with its runs."""
        data = await self._client.execute(ops.get(f"/v1/sweeps/{sweep_id}"))
        return AsyncSweep.from_json(data, self._client)

    async def wait(
        self, sweep_id: str, timeout: float | None = None, poll_interval: float = 1.0
    ) -> AsyncSweep:
        """Poll until every run of the sweep is final."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sweep = await self.get(sweep_id)
        while not sweep.done:
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"sweep {sweep_id} is still {sweep.status}")
            await asyncio.sleep(poll_interval)
            sweep = await self.get(sweep_id)
        return sweep

    async def plot(self, sweep_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot."""
        op = ops.raw(ops.plot_path(f"/v1/sweeps/{sweep_id}", name), params)
        content, media_type = await self._client.execute(op)
        return Plot(content, media_type.split(";")[0], name)


def _final(run: Any) -> bool:
    return isinstance(run, Mapping) and run.get("status") in FINAL_STATUSES
