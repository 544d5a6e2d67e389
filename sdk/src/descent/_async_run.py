"""`AsyncRun` and `AsyncSweep`: API objects bound to an AsyncClient (methods are coroutines)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._across import sweep_frame
from ._base import Event
from ._models import LossSurface, Plot, Prediction, RunFields, Snapshots, SweepFields

if TYPE_CHECKING:
    from ._async_client import AsyncClient

Grid = list[list[int]]


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

    async def update(
        self,
        *,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
    ) -> AsyncRun:
        """Rename the run, replace its tags or set its notes (only what is given changes)."""
        updated = await self.client.runs.update(self.id, name=name, tags=tags, notes=notes)
        self._update(updated.raw)
        return self

    async def clone(
        self,
        *,
        name: str | None = None,
        dataset_id: Any = None,
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> AsyncRun:
        """Submit a copy of this run with some hyperparameters changed; return the new run."""
        return await self.client.runs.clone(
            self.id, name=name, dataset_id=dataset_id, hyperparameters=hyperparameters,
            **overrides,
        )  # fmt: skip

    async def history(self, max_points: int | None = None, as_frame: bool | None = None) -> Any:
        """Return every epoch (a pandas DataFrame when pandas is installed)."""
        return await self.client.runs.history(self.id, max_points=max_points, as_frame=as_frame)

    async def events(self, last_event_id: str | int | None = None) -> AsyncIterator[Event]:
        """Stream epoch, status and diagnosis events until the run is final.

        Status events update self; a diagnosis event's data is a `Diagnosis`, also added to
        `self.diagnostics`.
        """
        async for event in self.client.runs.events(self.id, last_event_id=last_event_id):
            if event.event == "status" and isinstance(event.data, dict):
                self._update(event.data)
            elif event.event == "diagnosis":
                self._found(event.data)
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
        return cls(**cls.parse(data), runs=runs, _client=client)

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
        for key, value in self.parse(other.raw).items():
            setattr(self, key, value)
        self.runs = other.runs
        return self

    def to_frame(self) -> Any:
        """Return a DataFrame indexed by run id, as `Sweep.to_frame`."""
        return sweep_frame(self, self.runs)

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
        """Render a sweep plot: `loss`, `contour` or `parallel`."""
        return await self.client.sweeps.plot(self.id, name, **params)

    async def cancel(self) -> AsyncSweep:
        """Cancel every unfinished run."""
        return self._take(await self.client.sweeps.cancel(self.id))

    async def delete(self) -> None:
        """Delete the sweep and its runs."""
        await self.client.sweeps.delete(self.id)
