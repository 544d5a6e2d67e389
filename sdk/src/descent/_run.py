"""`Run` and `Sweep`: API objects that remember their client, so `run.wait()` just works."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._across import sweep_frame
from ._base import Event
from ._models import LossSurface, Plot, Prediction, RunFields, Snapshots, SweepFields

if TYPE_CHECKING:
    from ._client import Client


@dataclass(repr=False)
class Run(RunFields):
    """A training run; methods act on the server and refresh the fields in place."""

    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def client(self) -> Client:
        """Return the client this run was fetched with."""
        if self._client is None:
            raise RuntimeError("this Run is not attached to a Client")
        return self._client

    def refresh(self) -> Run:
        """Fetch the latest state of the run."""
        self._update(self.client.runs.get(self.id).raw)
        return self

    def wait(
        self,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> Run:
        """Block until the run is final (tqdm bar of epochs and loss); return self."""
        final = self.client.runs.wait(
            self.id,
            progress=progress,
            timeout=timeout,
            poll_interval=poll_interval,
            retry_for=retry_for,
        )
        self._update(final.raw)
        return self

    def cancel(self) -> Run:
        """Stop the run within one epoch; its history so far is kept."""
        self._update(self.client.runs.cancel(self.id).raw)
        return self

    def delete(self) -> None:
        """Delete the run and everything it stored."""
        self.client.runs.delete(self.id)

    def update(
        self,
        *,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
    ) -> Run:
        """Rename the run, replace its tags or set its notes (only what is given changes)."""
        self._update(self.client.runs.update(self.id, name=name, tags=tags, notes=notes).raw)
        return self

    def clone(
        self,
        *,
        name: str | None = None,
        dataset_id: Any = None,
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Run:
        """Submit a copy of this run with some hyperparameters changed; return the new run."""
        return self.client.runs.clone(
            self.id, name=name, dataset_id=dataset_id, hyperparameters=hyperparameters,
            **overrides,
        )  # fmt: skip

    def history(self, max_points: int | None = None, as_frame: bool | None = None) -> Any:
        """Return every epoch (a pandas DataFrame when pandas is installed)."""
        return self.client.runs.history(self.id, max_points=max_points, as_frame=as_frame)

    def events(
        self, last_event_id: str | int | None = None, since_epoch: int | None = None
    ) -> Iterator[Event]:
        """Stream epoch, status and diagnosis events until the run is final.

        Status events update self; a diagnosis event's data is a `Diagnosis`, also added to
        `self.diagnostics`.
        """
        stream = self.client.runs.events(
            self.id, last_event_id=last_event_id, since_epoch=since_epoch
        )
        for event in stream:
            if event.event == "status" and isinstance(event.data, dict):
                self._update(event.data)
            elif event.event == "diagnosis":
                self._found(event.data)
            yield event

    def plot(self, name: str = "loss", **params: Any) -> Plot:
        """Render a plot of this run, e.g. `run.plot("boundary", epoch=5)`."""
        return self.client.runs.plot(self.id, name, **params)

    def predict(self, inputs: Any) -> Prediction:
        """Predict with the run's final (or latest) parameters."""
        return self.client.runs.predict(self.id, inputs)

    def download_model(self, path: str | Path) -> Path:
        """Save the trained model to `path`."""
        return self.client.runs.download_model(self.id, path)

    def snapshots(self) -> Snapshots:
        """List the epochs with decision-boundary snapshots."""
        return self.client.runs.snapshots(self.id)

    def snapshot(self, epoch: int) -> list[list[int]]:
        """Return the decision-boundary grid at `epoch`."""
        return self.client.runs.snapshot(self.id, epoch)

    def loss_surface(self) -> LossSurface:
        """Return the regression's loss surface."""
        return self.client.runs.loss_surface(self.id)


@dataclass(repr=False)
class Sweep(SweepFields):
    """A set of runs over a hyperparameter grid or a random search of a space."""

    runs: list[Run] = field(default_factory=list)
    _client: Client | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any], client: Client | None) -> Sweep:
        """Build a Sweep (with its runs) from the API JSON."""
        runs = [Run(**Run.parse(r), _client=client) for r in data.get("runs") or []]
        return cls(**cls.parse(data), runs=runs, _client=client)

    @property
    def client(self) -> Client:
        """Return the client this sweep was fetched with."""
        if self._client is None:
            raise RuntimeError("this Sweep is not attached to a Client")
        return self._client

    @property
    def best_run(self) -> Run | None:
        """Return the run with the lowest final (validation) loss, if any finished."""
        return next((r for r in self.runs if r.id == self.best_run_id), None)

    def _take(self, other: Sweep) -> Sweep:
        for key, value in self.parse(other.raw).items():
            setattr(self, key, value)
        self.runs = other.runs
        return self

    def to_frame(self) -> Any:
        """Return a DataFrame indexed by run id: status (pruned included), the swept values
        as columns, `epochs_run` and the final metrics."""
        return sweep_frame(self, self.runs)

    def refresh(self) -> Sweep:
        """Fetch the latest state of the sweep and its runs."""
        return self._take(self.client.sweeps.get(self.id))

    def wait(
        self,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> Sweep:
        """Block until every run is final; return self."""
        done = self.client.sweeps.wait(
            self.id,
            progress=progress,
            timeout=timeout,
            poll_interval=poll_interval,
            retry_for=retry_for,
        )
        return self._take(done)

    def plot(self, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot: `loss`, `contour` or `parallel` (swept values to the metric)."""
        return self.client.sweeps.plot(self.id, name, **params)

    def cancel(self) -> Sweep:
        """Cancel every unfinished run."""
        return self._take(self.client.sweeps.cancel(self.id))

    def delete(self) -> None:
        """Delete the sweep and its runs."""
        self.client.sweeps.delete(self.id)
