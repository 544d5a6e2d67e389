"""client.lr_range_test (sync and async) and `descent lr-range-test` against the real app;
the worker's side runs in this process when the test is enqueued."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import descent
import httpx
import pytest
from descent._cli import main

from descent_server.api.deps import get_lr_range_enqueue as get_enqueue
from descent_server.db.session import session_factory
from descent_server.services import lr_range_tests as service
from tests.sdk.conftest import Server

MOVIES: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
    "hyperparameters": {"learning_rate": 2e-10},
}


@pytest.fixture
def inline(server: Server) -> list[str]:
    """Run each enqueued range test at once, as a worker would."""
    ran: list[str] = []

    def enqueue(test_id: str, queue: str) -> None:
        service.run_test(session_factory=session_factory, test_id=test_id)
        ran.append(test_id)

    server.http.app.dependency_overrides[get_enqueue] = lambda: enqueue  # type: ignore[attr-defined]
    return ran


def test_a_range_test_suggests_and_draws(client: descent.Client, inline: list[str]) -> None:
    test = client.lr_range_test(run=MOVIES, min_lr=1e-14, max_lr=1e-6, steps=50)
    assert isinstance(test, descent.LrRangeTest) and inline == [test.id]
    assert test.wait(timeout=30) is test and test.status == "succeeded"
    assert test.suggested_learning_rate is not None and test.lr_max is not None
    assert 0 < test.suggested_learning_rate <= test.lr_max
    assert 10 < len(test.points) <= 50 and test.points[0][0] == pytest.approx(1e-14)
    assert test.run["hyperparameters"]["learning_rate"] == 2e-10
    plot = test.plot(width=300, height=200)
    assert plot.media_type == "image/png" and plot.content.startswith(b"\x89PNG")


def test_a_refused_range_test_raises_a_validation_error(client: descent.Client) -> None:
    with pytest.raises(descent.ValidationError) as caught:
        client.lr_range_test(run=MOVIES, min_lr=1.0, max_lr=0.1)
    assert caught.value.status == 422


def test_the_async_client_runs_a_range_test(server: Server, inline: list[str]) -> None:
    async def go() -> descent.AsyncLrRangeTest:
        transport = httpx.ASGITransport(app=server.http.app)  # type: ignore[arg-type]
        async with descent.AsyncClient(
            "http://testserver", api_key=server.key, transport=transport
        ) as client:
            test = await client.lr_range_test(run=MOVIES, min_lr=1e-14, max_lr=1e-6, steps=20)
            await test.wait(timeout=30)
            assert (await test.plot()).content.startswith(b"\x89PNG")
            return test

    test = asyncio.run(go())
    assert test.status == "succeeded" and test.suggested_learning_rate is not None


def test_the_cli_prints_the_suggestion_and_saves_the_plot(
    client: descent.Client, inline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lr.png"
    code = main(
        [
            "lr-range-test", "--kind", "linear_regression", "--dataset", "builtin:movies",
            "--features", "num_want_to_see", "--target", "nums_audience",
            "--set", "learning_rate=2e-10", "--min-lr", "1e-14", "--max-lr", "1e-6",
            "--steps", "30", "--plot", str(out),
        ],
        client=client,
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "suggested learning rate" in printed and inline[0] in printed
    assert out.read_bytes().startswith(b"\x89PNG")
