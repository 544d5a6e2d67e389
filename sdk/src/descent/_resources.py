"""`client.runs` and `client.sweeps` of the synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _ops as ops
from ._across import Comparison, RunList, comparison_parts
from ._base import Event, Request
from ._diagnostics import typed_events
from ._domain import Kind, Status, is_final
from ._exceptions import DescentError, ServerError, TransportError, WaitTimeout
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
from ._run import Run, Sweep
from ._waiting import Waiter, is_outage

if TYPE_CHECKING:
    from ._client import Client

Grid = list[list[int]]  # spelled here: inside Runs, `list` is the method


class Runs:
    """`client.runs`: submit, watch and inspect training runs."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _wrap(self, data: dict[str, Any]) -> Run:
        return Run(**Run.parse(data), _client=self._client)

    def create(
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
    ) -> RunList[Run]:
        """List your runs (all pages, or the first `limit`); `.to_frame()` makes a table.

        Every `tag` must match; `q` is a substring of the name; `sort` is `created_at`,
        `duration_s` or `metrics.NAME`, `-` first for descending (default `-created_at`).
        """
        params = ops.run_filters(
            status=status, kind=kind, dataset=dataset_id, sweep=sweep_id, tag=tag, q=q,
            created_after=created_after, created_before=created_before, sort=sort,
        )  # fmt: skip
        items = self._client.execute(ops.paginate("/v1/runs", params, limit))
        return RunList(self._wrap(r) for r in items)

    def update(
        self,
        run_id: str,
        *,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
    ) -> Run:
        """Rename a run, replace its tags or set its notes (only what is given changes)."""
        changes = {"name": name, "tags": None if tags is None else list(tags), "notes": notes}
        body = {k: v for k, v in changes.items() if v is not None}
        return self._wrap(self._client.execute(ops.update_run(run_id, body)))

    def clone(
        self,
        run_id: str,
        *,
        name: str | None = None,
        dataset_id: Any = None,
        hyperparameters: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Run:
        """Submit a copy of a run with some hyperparameters changed (dotted names allowed:
        `clone(id, **{"optimizer.learning_rate": 0.1})`); the new run's parent is `run_id`."""
        body = ops.clone_request(name, dataset_id, {**(hyperparameters or {}), **overrides})
        return self._wrap(self._client.execute(ops.clone_run(run_id, body)))

    def compare(self, runs: Sequence[Run | str]) -> Comparison[Run]:
        """Compare 2-20 runs: what differs between them and their metrics, side by side."""
        data = self._client.execute(ops.get("/v1/runs/compare", {"ids": ops.compare_ids(runs)}))
        differs, metrics = comparison_parts(data)
        compared = [self._wrap(r) for r in data.get("runs") or []]
        return Comparison(compared, differs, metrics, data, _plot=self.compare_plot)

    def compare_plot(self, runs: Sequence[Run | str], **params: Any) -> Plot:
        """Render the compared runs' loss (and val_loss) curves on one plot."""
        query = {**params, "ids": ops.compare_ids(runs)}
        content, media_type = self._client.execute(
            ops.raw("/v1/runs/compare/plots/loss.png", query)
        )
        return Plot(content, media_type.split(";")[0], "loss")

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
        """Stream `epoch`, `status` and `diagnosis` events until the run is final (resumes on
        drops); a diagnosis event's data is a `Diagnosis`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        params = {"since_epoch": since_epoch, "epochs": None if epochs else False}
        last = None if last_event_id is None else str(last_event_id)
        path = f"/v1/runs/{run_id}/events"
        return typed_events(
            self._client.stream_events(path, last_event_id=last, params=params, deadline=deadline)
        )

    def wait(
        self,
        run_id: str,
        *,
        progress: bool = True,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        retry_for: float | None = None,
    ) -> Run:
        """Block until the run is final (progress bar); ride out API restarts for `retry_for` s.

        With `progress`, each diagnosis is printed (with its hint) as the server finds it.

        It follows the event stream and polls when streaming fails; connection errors and
        502/503/504 are retried with backoff for `retry_for` seconds (default: the client's
        `wait_retry_s`). WaitTimeout (after `timeout`) and TransportError name the run and
        the last status seen.
        """
        waiter = Waiter(f"run {run_id}", timeout, _retry_for(self._client, retry_for))
        data = self._fetch(run_id, waiter)
        bar = RunProgress(data, enabled=progress)
        try:
            if not is_final(data):
                try:
                    for event in self.events(run_id, epochs=False, timeout=waiter.remaining()):
                        if event.event == "status":
                            data = event.data
                            waiter.seen(data)
                            bar.status(data)
                        elif event.event == "epoch":
                            bar.epoch(event.data)
                        elif event.event == "diagnosis":
                            bar.diagnosis(event.data)
                except WaitTimeout:
                    raise waiter.timed_out() from None
                except (TransportError, ServerError):
                    pass  # no stream (a restart, a proxy, an old server): poll instead
            data = self._poll(run_id, data, bar, waiter, poll_interval)
        finally:
            bar.close()
        return self._wrap(data)

    def _fetch(self, run_id: str, waiter: Waiter) -> dict[str, Any]:
        """GET the run, retrying through an outage as `waiter` allows."""
        while True:
            try:
                data: dict[str, Any] = self._client.execute(ops.get(f"/v1/runs/{run_id}"))
            except DescentError as exc:
                if not is_outage(exc):
                    raise
                time.sleep(waiter.failed(exc))
                continue
            waiter.seen(data)
            return data

    def _poll(
        self,
        run_id: str,
        data: dict[str, Any],
        bar: RunProgress,
        waiter: Waiter,
        poll_interval: float,
    ) -> dict[str, Any]:
        etag: str | None = None
        while not is_final(data):
            waiter.check()
            headers = {"If-None-Match": etag} if etag else {}
            request = Request("GET", f"/v1/runs/{run_id}", headers=headers, accept=(304,))
            try:
                response = self._client.send(request)
            except DescentError as exc:
                if not is_outage(exc):
                    raise
                time.sleep(waiter.failed(exc))
                continue
            waiter.seen(data)
            if response.status_code != 304:
                data, etag = response.json(), response.headers.get("ETag")
                waiter.seen(data)
                bar.status(data)
                if is_final(data):
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

    def snapshot(self, run_id: str, epoch: int) -> Grid:
        """Return the grid of predicted class indices at `epoch` (x2 rows, x1 columns)."""
        grid: Grid = self._client.execute(ops.get(f"/v1/runs/{run_id}/snapshots/{epoch}"))["grid"]
        return grid

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
        grid: Mapping[str, Sequence[Any]] | None = None,
        name: str | None = None,
        strategy: str | None = None,
        axes: Mapping[str, Any] | None = None,
        n_runs: int | None = None,
        seed: int | None = None,
        early_stop: Mapping[str, Any] | None = None,
    ) -> Sweep:
        """Submit a sweep: `run` is a run request (as for runs.create), then either `grid`
        (every combination) or `strategy="random"` with `n_runs`, `seed` and `axes` (lists,
        or {"log_uniform" | "uniform" | "int_uniform": [lo, hi]}, {"choice": [...]}), and
        optionally `early_stop={"method": "asha" | "median", "metric": "val_loss", ...}`."""
        search = {
            "strategy": strategy, "axes": axes, "n_runs": n_runs, "seed": seed,
            "early_stop": early_stop,
        }  # fmt: skip
        return self._wrap(self._client.execute(ops.create_sweep(run, grid, name, search)))

    def list(self, *, status: Status | str | None = None, limit: int | None = None) -> list[Sweep]:
        """List your sweeps, newest first (all pages, or the first `limit`)."""
        items = self._client.execute(ops.paginate("/v1/sweeps", {"status": status}, limit))
        return [self._wrap(s) for s in items]

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
        retry_for: float | None = None,
    ) -> Sweep:
        """Poll until every run of the sweep is final (riding out API restarts, as runs.wait)."""
        waiter = Waiter(f"sweep {sweep_id}", timeout, _retry_for(self._client, retry_for))
        sweep = self._fetch(sweep_id, waiter)
        bar = SweepProgress(sweep.raw, progress)
        try:
            while not sweep.done:
                waiter.check()
                time.sleep(min(poll_interval, waiter.remaining() or poll_interval))
                sweep = self._fetch(sweep_id, waiter)
                bar.update(sweep.raw)
        finally:
            bar.close()
        return sweep

    def _fetch(self, sweep_id: str, waiter: Waiter) -> Sweep:
        while True:
            try:
                sweep = self.get(sweep_id)
            except DescentError as exc:
                if not is_outage(exc):
                    raise
                time.sleep(waiter.failed(exc))
                continue
            waiter.seen(sweep.raw)
            return sweep

    def plot(self, sweep_id: str, name: str = "loss", **params: Any) -> Plot:
        """Render a sweep plot: `loss` (every run's curve), `contour` or `parallel`."""
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


def _retry_for(client: Any, retry_for: float | None) -> float:
    return float(client.wait_retry_s if retry_for is None else retry_for)
