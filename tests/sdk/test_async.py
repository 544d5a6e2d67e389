"""AsyncClient against the real app (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import descent
import httpx

from tests.sdk.conftest import Server
from tests.sdk.run_writer import RunWriter



def test_async_client_end_to_end(server: Server, tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=server.http.app)

    async def go() -> None:
        async with descent.AsyncClient("http://asgi", api_key=server.key, transport=transport) as c:
            assert {d.name for d in await c.datasets.builtins()} >= {"movies"}
            movies = await c.datasets.builtin("movies")
            ds = await c.datasets.upload({"x": [1, 2, 3], "y": [2, 4, 6]}, name="line")
            assert (await c.datasets.get(ds.id)).name == "line"
            assert [d.id for d in await c.datasets.list()] == [ds.id]
            run = await c.runs.create(kind="linear_regression", dataset=movies,
                                      features=movies.features, target=movies.target,
                                      learning_rate=2e-10, epochs=5)  # fmt: skip
            assert isinstance(run, descent.AsyncRun) and run.status == "queued"
            worker = RunWriter(run.id)
            worker.epochs(range(6))
            worker.finish()
            assert (await run.refresh()).status == "succeeded"
            events = [e async for e in run.events()]
            assert [e.id for e in events if e.event == "epoch"] == [str(i) for i in range(6)]
            assert (await run.wait()).succeeded
            assert [r.id for r in await c.runs.list(status="succeeded")] == [run.id]
            other = await c.runs.create(kind="linear_regression", dataset=movies,
                                        features=movies.features, target=movies.target)  # fmt: skip
            assert (await other.cancel()).status == "cancelled"
            await other.delete()
            await c.datasets.delete(ds.id)
            try:
                await c.runs.get(other.id)
            except descent.NotFound:
                pass
            else:
                raise AssertionError("deleted run still there")

    asyncio.run(go())
