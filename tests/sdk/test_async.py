"""AsyncClient against the real app (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import descent
import httpx
import pytest

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter


def finish(run_id: str, status: str = "succeeded", epochs: int = 6) -> None:
    writer = RunWriter(run_id)
    writer.epochs(range(epochs))
    if status == "succeeded":
        writer.artifact("model", b'{"a": 0.5, "b": 1.0}', "application/json")
    writer.finish(status, result={"final_loss": 1.0} if status == "succeeded" else None)


def test_async_datasets_and_runs(server: Server, tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=server.http.app)

    async def go() -> None:
        async with descent.AsyncClient("http://asgi", api_key=server.key, transport=transport) as c:
            assert {d.name for d in await c.datasets.builtins()} >= {"movies"}
            movies = await c.datasets.builtin("movies")
            ds = await c.datasets.upload({"x": [1, 2, 3], "y": [2, 4, 6]}, name="line")
            assert (await c.datasets.get(ds.id)).name == "line"
            assert [d.id for d in await c.datasets.list()] == [ds.id]
            assert (await c.datasets.download(ds.id)).startswith(b"x,y")
            spec = dict(dataset=movies, features=movies.features, target=movies.target)
            run = await c.runs.create(kind="linear_regression", **spec, epochs=5)
            assert isinstance(run, descent.AsyncRun) and run.status == "queued"
            finish(run.id)
            assert (await run.refresh()).status == "succeeded"
            events = [e async for e in run.events()]
            assert [e.id for e in events if e.event == "epoch"] == [str(i) for i in range(6)]
            assert (await run.wait()).succeeded
            assert len(await run.history(as_frame=False)) == 6
            assert (await c.runs.history_csv(run.id)).startswith("epoch,loss")
            assert (await run.plot("loss")).content.startswith(b"\x89PNG")
            assert (await run.predict([2.0])).predictions == pytest.approx([2.0])  # a=0.5, b=1
            assert (await run.download_model(tmp_path / "m.json")).read_bytes().startswith(b"{")
            assert len((await run.loss_surface()).a) > 2
            assert [r.id for r in await c.runs.list(status="succeeded")] == [run.id]
            other = await c.runs.create(kind="linear_regression", **spec)
            assert (await other.cancel()).status == "cancelled"
            await other.delete()
            await c.datasets.delete(ds.id)
            with pytest.raises(descent.NotFound):
                await c.runs.get(other.id)

    asyncio.run(go())


def test_async_sweeps(server: Server) -> None:
    transport = httpx.ASGITransport(app=server.http.app)
    base = {
        "kind": "linear_regression",
        "dataset": "builtin:movies",
        "features": ["num_want_to_see"],
        "target": "nums_audience",
        "epochs": 5,
    }

    async def go() -> None:
        async with descent.AsyncClient("http://asgi", api_key=server.key, transport=transport) as c:
            sweep = await c.sweeps.create(run=base, grid={"learning_rate": [1e-3, 2e-10]})
            assert isinstance(sweep, descent.AsyncSweep) and len(sweep.runs) == 2
            for run in sweep.runs:
                bad = run.hyperparameters["learning_rate"] == 1e-3
                finish(run.id, "diverged" if bad else "succeeded")
            await sweep.wait(poll_interval=0.01)
            assert sweep.done and sweep.best_run is not None
            assert sweep.best_run.hyperparameters["learning_rate"] == 2e-10
            assert (await sweep.plot("loss")).content.startswith(b"\x89PNG")
            other = await c.sweeps.create(run=base, grid={"epochs": [3, 4]})
            assert (await other.cancel()).status == "cancelled"
            await other.delete()
            with pytest.raises(descent.NotFound):
                await other.refresh()

    asyncio.run(go())
