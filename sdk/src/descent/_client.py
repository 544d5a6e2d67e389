"""The synchronous client: `Client` and its `datasets`, `runs` and `sweeps` resources."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
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
    Snapshots,
    history_table,
    prediction_from_json,
    snapshots_from_json,
)
from ._progress import RunProgress
from ._run import Run, Sweep

T = TypeVar("T")
_STREAM = Request("GET", "/events")  # the retry policy of an event stream: a GET


class Client(BaseClient):
    """A connection to a descent server; use it as a context manager.

    `base_url` and `api_key` default to $DESCENT_URL and $DESCENT_API_KEY. Pass
    `transport=` (any httpx transport) or `http_client=` (an httpx.Client such as
    Starlette's TestClient) to talk to something other than the network.
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
    ) -> None:
        if base_url is None and http_client is not None:
            base_url = str(http_client.base_url)
        super().__init__(base_url, api_key, timeout, max_retries, backoff)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, transport=transport)
        self.datasets = Datasets(self)
        self.runs = Runs(self)
        self.sweeps = Sweeps(self)

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
                    raise TransportError(f"{request.method} {request.path}: {exc}") from exc
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
            return done.value

    def stream_events(
        self,
        path: str,
        *,
        last_event_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Iterator[Event]:
        """Yield Server-Sent Events, reconnecting with Last-Event-ID after a dropped link."""
        failures = 0
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
                                raise WaitTimeout("gave up waiting for events")
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
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeout("gave up waiting for events") from exc
                if failures >= self.max_retries:
                    raise TransportError(f"event stream {path}: {exc}") from exc
            # The stream ended without a final status (server restart): resume it.
            params = {k: v for k, v in (params or {}).items() if k != "since_epoch"}
            failures += 1
            if failures > self.max_retries:
                raise TransportError(f"event stream {path} keeps closing early")
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout("gave up waiting for events")
            time.sleep(self._delay(failures - 1, response))


class Datasets:
    """`client.datasets`: upload, list, fetch and delete datasets."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(
        self, source: Any, name: str | None = None, *, idempotency_key: str | None = None
    ) -> Dataset:
        """Upload a CSV file path, a pandas DataFrame or a {column: values} dict."""
        data = self._client.execute(ops.upload_dataset(source, name, idempotency_key))
        return Dataset.from_json(data)

    def builtins(self) -> list[Dataset]:
        """List the course's ready-made datasets (movies, three-blobs, linear-noise)."""
        return [Dataset.from_json(d) for d in self._client.execute(ops.builtins())]

    def builtin(self, name: str) -> Dataset:
        """Return a builtin dataset by name (use it as `dataset=`)."""
        return Dataset.from_json(self._client.execute(ops.builtin(name)))

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


class Runs:
    """`client.runs`: submit, watch and inspect training runs."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> Run:
        return Run(**Run.parse(data), _client=self._client)

    def create(
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
    ) -> Run:
        """Submit a run; every other keyword argument is a hyperparameter."""
        body = ops.run_request(
            kind=kind, dataset=dataset, features=features, target=target, name=name,
            device=device, **hyperparameters,
        )  # fmt: skip
        return self._wrap(self._client.execute(ops.create_run(body, idempotency_key)))

    def get(self, run_id: str) -> Run:
        """Fetch a run."""
        return self._wrap(self._client.execute(ops.get(f"/v1/runs/{run_id}")))

    def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int | None = None
    ) -> list[Run]:
        """List your runs, newest first (all pages, or the first `limit`)."""
        params = {"status": status, "kind": kind}
        return [self._wrap(r) for r in self._client.execute(ops.paginate("/v1/runs", params, limit))]

    def cancel(self, run_id: str) -> Run:
        """Stop a run within one epoch (Conflict if it already finished)."""
        return self._wrap(self._client.execute(ops.cancel_run(run_id)))

    def delete(self, run_id: str) -> None:
        """Delete a run and everything it stored (a running run is cancelled first)."""
        self._client.execute(ops.delete(f"/v1/runs/{run_id}"))

    def history(
        self, run_id: str, *, max_points: int | None = None, as_frame: bool | None = None
    ) -> Any:
        """Return every epoch: a DataFrame indexed by epoch with pandas, else a list of dicts."""
        return history_table(self._client.execute(ops.history(run_id, max_points)), as_frame)

    def history_csv(self, run_id: str) -> str:
        """Return the whole history as CSV text (params flattened into columns)."""
        op = ops.raw(f"/v1/runs/{run_id}/history", {"format": "csv"})
        return self._client.execute(op)[0].decode()

    def events(
        self,
        run_id: str,
        *,
        last_event_id: str | int | None = None,
        since_epoch: int | None = None,
        epochs: bool = True,
        timeout: float | None = None,
    ) -> Iterator[Event]:
        """Stream `epoch` and `status` events until the run is final (resumes on drops)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        params = {"since_epoch": since_epoch, "epochs": None if epochs else False}
        last = None if last_event_id is None else str(last_event_id)
        path = f"/v1/runs/{run_id}/events"
        return self._client.stream_events(path, last_event_id=last, params=params, deadline=deadline)

    def wait(
        self,
        run_id: str,
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> Run:
        """Block until the run is final, with a progress bar; stream first, poll if that fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        data = self._client.execute(ops.get(f"/v1/runs/{run_id}"))
        bar = RunProgress(data, enabled=progress)
        try:
            if not _final(data):
                try:
                    for event in self.events(run_id, epochs=False, timeout=timeout):
                        if event.event == "status":
                            data = event.data
                            bar.status(data)
                        elif event.event == "epoch":
                            bar.epoch(event.data)
                except (TransportError, ServerError):
                    pass  # no stream (a proxy, an old server): poll instead
            data = self._poll(run_id, data, bar, deadline, poll_interval)
        finally:
            bar.close()
        return self._wrap(data)

    def _poll(
        self,
        run_id: str,
        data: dict[str, Any],
        bar: RunProgress,
        deadline: float | None,
        poll_interval: float,
    ) -> dict[str, Any]:
        etag: str | None = None
        while not _final(data):
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"run {run_id} is still {data.get('status')}")
            headers = {"If-None-Match": etag} if etag else {}
            request = Request("GET", f"/v1/runs/{run_id}", headers=headers, accept=(304,))
            response = self._client.send(request)
            if response.status_code != 304:
                data, etag = response.json(), response.headers.get("ETag")
                bar.status(data)
                if _final(data):
                    break
            time.sleep(poll_interval)
        return data

    def plot(self, run_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a plot (loss, params, fit, surface, contour, boundary, boundary.gif)."""
        content, media_type = self._client.execute(
            ops.raw(ops.plot_path(f"/v1/runs/{run_id}", name), params)
        )
        return Plot(content, media_type.split(";")[0], name)

    def predict(self, run_id: str, inputs: Any) -> Prediction:
        """Predict with the run's final (or latest) parameters."""
        return prediction_from_json(self._client.execute(ops.predict(run_id, inputs)))

    def download_model(self, run_id: str, path: str | Path) -> Path:
        """Save the trained model (.keras for an MLP, JSON for a regression) to `path`."""
        content, _ = self._client.execute(ops.raw(f"/v1/runs/{run_id}/model"))
        path = Path(path)
        path.write_bytes(content)
        return path

    def snapshots(self, run_id: str) -> Snapshots:
        """List the epochs with decision-boundary snapshots and their geometry."""
        return snapshots_from_json(self._client.execute(ops.get(f"/v1/runs/{run_id}/snapshots")))

    def snapshot(self, run_id: str, epoch: int) -> list[list[int]]:
        """Return the grid of predicted class indices at `epoch` (x2 rows, x1 columns)."""
        return self._client.execute(ops.get(f"/v1/runs/{run_id}/snapshots/{epoch}"))["grid"]

    def loss_surface(self, run_id: str) -> LossSurface:
        """Return the regression's loss over a grid of (a, b)."""
        data = self._client.execute(ops.get(f"/v1/runs/{run_id}/loss-surface"))
        return LossSurface.from_json(data)


class Sweeps:
    """`client.sweeps`: one run per combination of hyperparameter values."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> Sweep:
        return Sweep.from_json(data, self._client)

    def create(
        self,
        *,
        run: Mapping[str, Any],
        grid: Mapping[str, Sequence[Any]],
        name: str | None = None,
    ) -> Sweep:
        """Submit a sweep: `run` is a run request (as for runs.create), `grid` the values."""
        return self._wrap(self._client.execute(ops.create_sweep(run, grid, name)))

    def get(self, sweep_id: str) -> Sweep:
        """Fetch a sweep with its runs."""
        return self._wrap(self._client.execute(ops.get(f"/v1/sweeps/{sweep_id}")))

    def wait(
        self,
        sweep_id: str,
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> Sweep:
        """Poll until every run of the sweep is final."""
        deadline = None if timeout is None else time.monotonic() + timeout
        sweep = self.get(sweep_id)
        bar = _SweepProgress(sweep.raw, progress)
        try:
            while not sweep.done:
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimeout(f"sweep {sweep_id} is still {sweep.status}")
                time.sleep(poll_interval)
                sweep = self.get(sweep_id)
                bar.update(sweep.raw)
        finally:
            bar.close()
        return sweep

    def plot(self, sweep_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot: `loss` (every run's curve) or `contour`."""
        content, media_type = self._client.execute(
            ops.raw(ops.plot_path(f"/v1/sweeps/{sweep_id}", name), params)
        )
        return Plot(content, media_type.split(";")[0], name)

    def cancel(self, sweep_id: str) -> Sweep:
        """Cancel every unfinished run of the sweep."""
        return self._wrap(self._client.execute(ops.cancel_sweep(sweep_id)))

    def delete(self, sweep_id: str) -> None:
        """Delete the sweep and its runs."""
        self._client.execute(ops.delete(f"/v1/sweeps/{sweep_id}"))


class _SweepProgress:
    """A bar counting finished runs of a sweep."""

    def __init__(self, sweep: dict[str, Any], enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=len(sweep.get("runs") or []), desc="runs", unit="run")
            self.update(sweep)

    def update(self, sweep: dict[str, Any]) -> None:
        if self._bar is not None:
            done = sum(r.get("status") in FINAL_STATUSES for r in sweep.get("runs") or [])
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _final(run: Any) -> bool:
    return isinstance(run, Mapping) and run.get("status") in FINAL_STATUSES
