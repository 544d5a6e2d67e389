"""`client.runs` and `client.sweeps` of the AsyncClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _ops as ops
from ._across import Comparison, RunList, comparison_parts
from ._async_run import AsyncRun, AsyncSweep
from ._base import Event
from ._diagnostics import typed_async_events
from ._domain import Kind, Status, is_final
from ._exceptions import DescentError, ServerError, TransportError
from ._models import (
    LossSurface,
    Plot,
    Prediction,
    Snapshots,
    history_table,
    prediction_from_json,
    snapshots_from_json,
)
from ._progress import RunProgress, SweepProgress
from ._waiting import Waiter, is_outage

if TYPE_CHECKING:
    from ._async_client import AsyncClient

Grid = list[list[int]]  # spelled here: inside AsyncRuns, `list` is the method


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
        dataset_id: Any = None,
        sweep_id: Any = None,
        tag: str | Sequence[str] | None = None,
        q: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> RunList[AsyncRun]:
        """List your runs, filtered and sorted as `Client.runs.list`; `.to_frame()` tables."""
        params = ops.run_filters(
            status=status, kind=kind, dataset=dataset_id, sweep=sweep_id, tag=tag, q=q,
            created_after=created_after, created_before=created_before, sort=sort,
        )  # fmt: skip
        items = await self._client.execute(ops.paginate("/v1/runs", params, limit))
        return RunList(self._wrap(r) for r in items)

    async def update(
        self,
        run_id: str,
        *,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
    ) -> AsyncRun:
        """Rename a run, replace its tags or set its notes (only what is given changes)."""
        changes = {"name": name, "tags": None if tags is None else list(tags), "notes": notes}
        body = {k: v for k, v in changes.items() if v is not None}
        return self._wrap(await self._client.execute(ops.update_run(run_id, body)))

    async def clone(
        self,
        run_id: str,
        *,
        name: str | None = None,
        dataset_id: Any = None,
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> AsyncRun:
        """Submit a copy of a run with some hyperparameters changed (dotted names allowed)."""
        body = ops.clone_request(name, dataset_id, {**(hyperparameters or {}), **overrides})
        return self._wrap(await self._client.execute(ops.clone_run(run_id, body)))

    async def compare(self, runs: Sequence[AsyncRun | str]) -> Comparison[AsyncRun]:
        """Compare 2-20 runs (`plot()` of the result is sync-only: use `compare_plot`)."""
        query = {"ids": ops.compare_ids(runs)}
        data = await self._client.execute(ops.get("/v1/runs/compare", query))
        differs, metrics = comparison_parts(data)
        return Comparison([self._wrap(r) for r in data.get("runs") or []], differs, metrics, data)

    async def compare_plot(self, runs: Sequence[AsyncRun | str], **params: Any) -> Plot:
        """Render the compared runs' loss (and val_loss) curves on one plot."""
        op = ops.raw("/v1/runs/compare/plots/loss.png", {**params, "ids": ops.compare_ids(runs)})
        content, media_type = await self._client.execute(op)
        return Plot(content, media_type.split(";")[0], "loss")

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
        """Stream epoch, status and diagnosis events until the run is final (resumes on drops);
        a diagnosis event's data is a `Diagnosis`."""
        last = None if last_event_id is None else str(last_event_id)
        params = {"since_epoch": since_epoch, "epochs": None if epochs else False}
        path = f"/v1/runs/{run_id}/events"
        return typed_async_events(
            self._client.stream_events(path, last_event_id=last, params=params)
        )

    async def wait(
        self,
        run_id: str,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> AsyncRun:
        """Wait until the run is final: follow the stream, else poll; ride out API restarts.

        With `progress`, each diagnosis is printed (with its hint) as the server finds it.
        """
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
                            elif event.event == "diagnosis":
                                bar.diagnosis(event.data)
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
        self,
        *,
        run: Mapping[str, Any],
        grid: Mapping[str, Sequence[Any]] | None = None,
        name: str | None = None,
        strategy: str | None = None,
        axes: Mapping[str, Any] | None = None,
        n_runs: int | None = None,
        seed: int | None = None,
        early_stop: Mapping[str, Any] | None = None,
    ) -> AsyncSweep:
        """Submit a grid or a random search, as `Client.sweeps.create`."""
        search = {
            "strategy": strategy, "axes": axes, "n_runs": n_runs, "seed": seed,
            "early_stop": early_stop,
        }  # fmt: skip
        return self._wrap(await self._client.execute(ops.create_sweep(run, grid, name, search)))

    async def list(
        self, *, status: Status | str | None = None, limit: int | None = None
    ) -> list[AsyncSweep]:
        """List your sweeps, newest first."""
        items = await self._client.execute(ops.paginate("/v1/sweeps", {"status": status}, limit))
        return [self._wrap(s) for s in items]

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
        """Render a sweep plot: `loss`, `contour` or `parallel`."""
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
