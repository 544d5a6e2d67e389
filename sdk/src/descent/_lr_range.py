"""Learning-rate range tests: `client.lr_range_test(run=..., ...)` and what it returns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _ops as ops
from ._base import Op, Request, jsonable
from ._domain import is_final
from ._exceptions import WaitTimeout
from ._models import Plot

PATH = "/v1/lr-range-tests"


def create(run: Mapping[str, Any], min_lr: float, max_lr: float, steps: int) -> Op[dict[str, Any]]:
    """Submit a range test of a run request (not retried: each call is a new test)."""
    body = {"run": ops.as_run_request(run), "min_lr": min_lr, "max_lr": max_lr, "steps": steps}
    request = Request("POST", PATH, json=jsonable(body), idempotent=False)
    return (yield from ops.call_object(request))


@dataclass
class LrRangeFields:
    """A range test as the server last showed it."""

    id: str
    status: str
    points: list[tuple[float, float]] = field(default_factory=list)  # (learning rate, loss)
    suggested_learning_rate: float | None = None
    rule: str | None = None
    lr_max: float | None = None  # linear regression: 2/λ_max
    run: dict[str, Any] = field(default_factory=dict)  # the run request, filled
    error: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @staticmethod
    def parse(data: dict[str, Any]) -> dict[str, Any]:
        """Return the constructor keyword arguments from the API's JSON."""
        return {
            "id": data["id"],
            "status": data.get("status", ""),
            "points": [(p["learning_rate"], p["loss"]) for p in data.get("points") or []],
            "suggested_learning_rate": data.get("suggested_learning_rate"),
            "rule": data.get("rule"),
            "lr_max": data.get("lr_max"),
            "run": data.get("run") or {},
            "error": data.get("error"),
            "raw": data,
        }

    @property
    def done(self) -> bool:
        """True once the test is final (succeeded or failed)."""
        return is_final(self.raw)

    def _update(self, data: dict[str, Any]) -> None:
        for name, value in self.parse(data).items():
            setattr(self, name, value)


@dataclass
class LrRangeTest(LrRangeFields):
    """A learning-rate range test; `wait()` for its suggestion, `plot()` for its curve."""

    client: Any = field(default=None, repr=False)

    def refresh(self) -> LrRangeTest:
        """Fetch the test's current state (in place) and return it."""
        self._update(self.client.execute(ops.get(f"{PATH}/{self.id}")))
        return self

    def wait(self, *, timeout: float | None = None, poll_interval: float = 0.5) -> LrRangeTest:
        """Poll until the test is final; WaitTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().done:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"lr range test {self.id} is still {self.status}")
            time.sleep(poll_interval)
        return self

    def plot(self, **params: Any) -> Plot:
        """Render the smoothed loss against the learning rate (PNG), the suggestion marked."""
        content, media_type = self.client.execute(
            ops.raw(f"{PATH}/{self.id}/plots/loss.png", params)
        )
        return Plot(content, media_type.split(";")[0], "lr_range")


@dataclass
class AsyncLrRangeTest(LrRangeFields):
    """The AsyncClient's range test: `await test.wait()`, `await test.plot()`."""

    client: Any = field(default=None, repr=False)

    async def refresh(self) -> AsyncLrRangeTest:
        """Fetch the test's current state (in place) and return it."""
        self._update(await self.client.execute(ops.get(f"{PATH}/{self.id}")))
        return self

    async def wait(
        self, *, timeout: float | None = None, poll_interval: float = 0.5
    ) -> AsyncLrRangeTest:
        """Poll until the test is final; WaitTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (await self.refresh()).done:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"lr range test {self.id} is still {self.status}")
            await asyncio.sleep(poll_interval)
        return self

    async def plot(self, **params: Any) -> Plot:
        """Render the smoothed loss against the learning rate (PNG), the suggestion marked."""
        op = ops.raw(f"{PATH}/{self.id}/plots/loss.png", params)
        content, media_type = await self.client.execute(op)
        return Plot(content, media_type.split(";")[0], "lr_range")
