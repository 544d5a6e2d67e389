"""Runs and sweeps of the AsyncClient: `AsyncRun`, `AsyncSweep` and their resources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _ops as ops
from ._base import Event
from ._domain import Kind, Status, is_final
from ._exceptions import DescentError, ServerError, TransportError
from ._models import (
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
from ._progress import RunProgress, SweepProgress
from ._waiting import Waiter, is_outage

if TYPE_CHECKING:
    from ._async_client import AsyncClient

Grid = list[list[int]]  # spelled here: inside AsyncRuns, `list` is the method


@dataclass(repr=False)
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

    async def wait(
        self,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> AsyncRun:
        """Wait until the run is final; return self."""
        final = await self.client.runs.wait(
            self.id,
            progress=progress,
            timeout=timeout,
            poll_interval=poll_interval,
            retry_for=retry_for,
        )
        self._update(final.raw)
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

    async def events(self, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        """Stream epoch and status events until the run is final; status events update self."""
        async for event in self.client.runs.events(self.id, last_event_id=last_event_id):
            if event.event == "status" and isinstance(event.data, dict):
                self._update(event.data)
            yield event

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
        return await self.client.runs.snapshots(self.id)

    async def snapshot(self, epoch: int) -> Grid:
        """Return the decision-boundary grid at `epoch`."""
        return await self.client.runs.snapshot(self.id, epoch)

    async def loss_surface(self) -> LossSurface:
        """Return the regression's loss surface."""
        return await self.client.runs.loss_surface(self.id)


@dataclass(repr=False)
class AsyncSweep(SweepFields):
    """A sweep bound to an AsyncClient."""

    runs: list[AsyncRun] = field(default_factory=list)
    _client: AsyncClient | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], client: AsyncClient | None) -> AsyncSweep:
        """Build an AsyncSweep from the API JSON."""
        runs = [AsyncRun(**AsyncRun.parse(r), _client=client) for r in data.get("runs") or []]
        return cls(
            id=data["id"], status=data.get("status", ""), best_run_id=data.get("best_run_id"),
            name=data.get("name"), raw=data, runs=runs, _client=client,
        )  # fmt: skip

    @property
    def client(self) -> AsyncClient:
        """Return the client this sweep was fetched with."""
        if self._client is None:
            raise RuntimeError("this AsyncSweep is not attached to an AsyncClient")
        return self._client

    @property
    def best_run(self) -> AsyncRun | None:
        """Return the best run, if any finished."""
        return next((r for r in self.runs if r.id == self.best_run_id), None)

    def _take(self, other: AsyncSweep) -> AsyncSweep:
        self.status, self.best_run_id, self.raw, self.runs = (
            other.status, other.best_run_id, other.raw, other.runs,
        )  # fmt: skip
        return self

    async def refresh(self) -> AsyncSweep:
        """Fetch the latest state of the sweep and its runs."""
        return self._take(await self.client.sweeps.get(self.id))

    async def wait(
        self,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> AsyncSweep:
        """Wait until every run is final; return self."""
        done = await self.client.sweeps.wait(
            self.id,
            progress=progress,
            timeout=timeout,
            poll_interval=poll_interval,
            retry_for=retry_for,
        )
        return self._take(done)

    async def plot(self, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot: `loss` or `contour`."""
        return await self.client.sweeps.plot(self.id, name, **params)

    async def cancel(self) -> AsyncSweep:
        """Cancel every unfinished run."""
        return self._take(await self.client.sweeps.cancel(self.id))

    async def delete(self) -> None:
        """Delete the sweep and its runs."""
        await self.client.sweeps.delete(self.id)


class AsyncRuns:
    """`client.runs` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> AsyncRun:
        return AsyncRun(**AsyncRun.parse(data), _client=self._client)

    async def create(
        self,
        *,
        kind: Kind | str,
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
        self,
        *,
        status: Status | str | None = None,
        kind: Kind | str | None = None,
        limit: int | None = None,
    ) -> list[AsyncRun]:
        """List your runs, newest first."""
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

    async def history_csv(self, run_id: str) -> str:
        """Return the whole history as CSV text."""
        op = ops.raw(f"/v1/runs/{run_id}/history", {"format": "csv"})
        return (await self._client.execute(op))[0].decode()

    def events(
        self,
        run_id: str,
        *,
        last_event_id: str | int | None = None,
        since_epoch: int | None = None,
        epochs: bool = True,
    ) -> AsyncIterator[Event]:
        """Stream epoch and status events until the run is final (resumes on drops)."""
        last = None if last_event_id is None else str(last_event_id)
        params = {"since_epoch": since_epoch, "epochs": None if epochs else False}
        path = f"/v1/runs/{run_id}/events"
        return self._client.stream_events(path, last_event_id=last, params=params)

    async def wait(
        self,
        run_id: str,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> AsyncRun:
        """Wait until the run is final: follow the stream, else poll; ride out API restarts."""
        waiter = Waiter(f"run {run_id}", timeout, _retry_for(self._client, retry_for))
        data: dict[str, Any] = await _fetch(self._client, f"/v1/runs/{run_id}", waiter)
        bar = RunProgress(data, enabled=progress)
        try:
            async with asyncio.timeout(timeout):
                if not is_final(data):
                    try:
                        async for event in self.events(run_id, epochs=False):
                            if event.event == "status":
                                data = event.data
                                waiter.seen(data)
                                bar.status(data)
                    except (TransportError, ServerError):
                        pass  # no stream (a restart, a proxy): poll instead
                while not is_final(data):
                    await asyncio.sleep(poll_interval)
                    data = await _fetch(self._client, f"/v1/runs/{run_id}", waiter)
                    bar.status(data)
        except TimeoutError as exc:
            raise waiter.timed_out() from exc
        finally:
            bar.close()
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

    async def snapshots(self, run_id: str) -> Snapshots:
        """List the epochs with decision-boundary snapshots."""
        data = await self._client.execute(ops.get(f"/v1/runs/{run_id}/snapshots"))
        return snapshots_from_json(data)

    async def snapshot(self, run_id: str, epoch: int) -> Grid:
        """Return the grid of predicted class indices at `epoch`."""
        data = await self._client.execute(ops.get(f"/v1/runs/{run_id}/snapshots/{epoch}"))
        grid: Grid = data["grid"]
        return grid

    async def loss_surface(self, run_id: str) -> LossSurface:
        """Return the regression's loss over a grid of (a, b)."""
        data = await self._client.execute(ops.get(f"/v1/runs/{run_id}/loss-surface"))
        return LossSurface.from_json(data)


class AsyncSweeps:
    """`client.sweeps` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> AsyncSweep:
        return AsyncSweep.from_json(data, self._client)

    async def create(
        self, *, run: Mapping[str, Any], grid: Mapping[str, Sequence[Any]], name: str | None = None
    ) -> AsyncSweep:
        """Submit one run per combination of the grid's values."""
        return self._wrap(await self._client.execute(ops.create_sweep(run, grid, name)))

    async def get(self, sweep_id: str) -> AsyncSweep:
        """Fetch a sweep with its runs."""
        return self._wrap(await self._client.execute(ops.get(f"/v1/sweeps/{sweep_id}")))

    async def wait(
        self,
        sweep_id: str,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> AsyncSweep:
        """Poll until every run of the sweep is final (riding out API restarts)."""
        waiter = Waiter(f"sweep {sweep_id}", timeout, _retry_for(self._client, retry_for))
        sweep = self._wrap(await _fetch(self._client, f"/v1/sweeps/{sweep_id}", waiter))
        bar = SweepProgress(sweep.raw, progress)
        try:
            while not sweep.done:
                waiter.check()
                await asyncio.sleep(poll_interval)
                sweep = self._wrap(await _fetch(self._client, f"/v1/sweeps/{sweep_id}", waiter))
                bar.update(sweep.raw)
        finally:
            bar.close()
        return sweep

    async def plot(self, sweep_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot: `loss` or `contour`."""
        op = ops.raw(ops.plot_path(f"/v1/sweeps/{sweep_id}", name), params)
        content, media_type = await self._client.execute(op)
        return Plot(content, media_type.split(";")[0], name)

    async def cancel(self, sweep_id: str) -> AsyncSweep:
        """Cancel every unfinished run of the sweep."""
        return self._wrap(await self._client.execute(ops.cancel_sweep(sweep_id)))

    async def delete(self, sweep_id: str) -> None:
        """Delete the sweep and its runs."""
        await self._client.execute(ops.delete(f"/v1/sweeps/{sweep_id}"))


async def _fetch(client: AsyncClient, path: str, waiter: Waiter) -> Any:
    """GET `path`, retrying through an outage as `waiter` allows."""
    while True:
        try:
            data = await client.execute(ops.get(path))
        except DescentError as exc:
            if not is_outage(exc):
                raise
            await asyncio.sleep(waiter.failed(exc))
            continue
        waiter.seen(data)
        return data


def _retry_for(client: AsyncClient, retry_for: float | None) -> float:
    return float(client.wait_retry_s if retry_for is None else retry_for)
