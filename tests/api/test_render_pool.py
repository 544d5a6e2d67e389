"""The render pool: real processes draw real plots; timeouts kill, owners are limited, recycled."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from descent_server.services import render_pool
from descent_server.services.errors import InvalidInput, RateLimited, Unavailable
from descent_server.services.plot_data import PlotOptions
from descent_server.services.plots import check_size
from descent_server.services.render_pool import Job, RenderPool
from descent_server.settings import get_settings
from tests.conftest import refresh_settings

LOSS = Job.of("loss_plot", [0, 1, 2], [3.0, 2.0, 1.0], None, width=200, height=150, dpi=100)


def slow_gif() -> Job:
    """A job that takes many seconds on any machine: 60 frames of 2000 × 2000 pixels."""
    rng = np.random.default_rng(0)
    grids = [rng.integers(0, 3, (100, 100)).astype(np.uint8) for _ in range(60)]
    X, y = rng.normal(size=(300, 2)), rng.integers(0, 3, 300)
    return Job.of("boundary_gif", grids, list(range(60)), [-3, 3, -3, 3], ["a", "b", "c"], X, y,
                  width=2000, height=2000)  # fmt: skip


@pytest.fixture
def pool() -> Iterator[RenderPool]:
    """A pool of one render process with a short timeout."""
    made = RenderPool(processes=1, timeout_s=1.0, per_owner=2)
    yield made
    made.close()


def alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" not in status.read()
    except FileNotFoundError:
        return False


def test_a_process_draws_the_picture_and_keeps_serving(pool: RenderPool) -> None:
    first = pool.submit(LOSS).result(timeout=120)
    assert Image.open(io.BytesIO(first)).size == (200, 150)
    pid = pool.pids()[0]
    assert pid != os.getpid()
    assert pool.submit(LOSS).result(timeout=120) == first
    assert pool.pids() == [pid]  # the same process, started once


def test_a_render_error_reaches_the_caller_and_the_process_stays(pool: RenderPool) -> None:
    pool.submit(LOSS).result(timeout=120)
    pid = pool.pids()[0]
    bad = Job.of("boundary_gif", [], [], [0, 1, 0, 1], ["a", "b"], np.zeros((0, 2)), [])
    with pytest.raises(ValueError, match="at least one snapshot"):
        pool.submit(bad).result(timeout=120)
    assert pool.pids() == [pid]


def test_a_render_past_the_timeout_is_killed_and_replaced(pool: RenderPool) -> None:
    pool.submit(LOSS).result(timeout=120)  # the process is up: only drawing is timed
    pid = pool.pids()[0]
    with pytest.raises(Unavailable, match="took over 1 s") as raised:
        pool.submit(slow_gif()).result(timeout=120)
    assert raised.value.retry_after == 1
    assert not alive(pid) and pool.pids() == []
    # A fresh process takes the next job.
    assert Image.open(io.BytesIO(pool.submit(LOSS).result(timeout=120))).size == (200, 150)
    assert pool.pids() and pool.pids()[0] != pid


def test_processes_are_recycled_after_a_number_of_jobs(
    pool: RenderPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render_pool, "JOBS_PER_CHILD", 2)
    pool.submit(LOSS).result(timeout=120)
    pid = pool.pids()[0]
    pool.submit(LOSS).result(timeout=120)
    assert pool.pids() == [] and not alive(pid)  # retired after its second job
    pool.submit(LOSS).result(timeout=120)
    assert pool.pids()[0] != pid


def test_an_owner_gets_429_beyond_its_concurrent_renders(pool: RenderPool) -> None:
    with pool.reserve("alice"), pool.reserve("alice"):
        with pytest.raises(RateLimited) as raised, pool.reserve("alice"):
            pass
        assert raised.value.retry_after >= 1
        with pool.reserve("bob"):  # another owner is not affected
            pass
    with pool.reserve("alice"):  # places are given back
        pass


def test_a_full_queue_answers_503_at_once(pool: RenderPool) -> None:
    slow = slow_gif()
    futures = [pool.submit(slow)]
    with pytest.raises(Unavailable, match="waiting to be drawn"):
        for _ in range(pool.max_queued + 2):
            futures.append(pool.submit(slow))
    for future in futures:
        future.cancel()


def test_draw_awaits_without_a_thread(pool: RenderPool) -> None:
    async def main() -> list[bytes]:
        return list(await asyncio.gather(pool.draw(LOSS), pool.draw(LOSS)))

    first, second = asyncio.run(main())
    assert first == second and first.startswith(b"\x89PNG")


def test_render_processes_stay_light() -> None:
    code = (
        "import sys; import descent_server.services.render_child, descent_server.ml.plots; "
        "heavy = ('tensorflow', 'keras', 'jax', 'torch', 'sqlalchemy', 'fastapi', 'celery'); "
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def first(error: InvalidInput) -> dict[str, Any]:
    """Return the first item of a 422's detail."""
    assert isinstance(error.detail, list)
    return error.detail[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pixels_times_frames_are_capped_before_any_work(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = get_settings().max_render_pixels
    check_size(PlotOptions(width=800, height=600, frames=100))  # the default GIF fits
    with pytest.raises(InvalidInput) as gif:
        check_size(PlotOptions(width=2000, height=2000, frames=100))
    assert first(gif.value)["loc"] == ["query", "frames"]
    assert f"{limit:,}" in first(gif.value)["msg"]
    monkeypatch.setenv("DESCENT_MAX_RENDER_PIXELS", "100000")
    refresh_settings()
    with pytest.raises(InvalidInput) as png:
        check_size(PlotOptions(width=400, height=300))
    assert first(png.value)["loc"] == ["query", "width"]
    assert "120,000 pixels; at most 100,000" in first(png.value)["msg"]


def test_the_canvas_is_width_by_height_whatever_the_dpi() -> None:
    # dpi only scales fonts and lines: it can never enlarge the canvas beyond the pixel cap.
    from descent_server.ml.plots import loss_plot

    for dpi in (10, 600):
        png = loss_plot([0, 1], [2.0, 1.0], None, width=300, height=200, dpi=dpi)
        assert Image.open(io.BytesIO(png)).size == (300, 200)
