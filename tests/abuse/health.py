"""Watch /healthz while an attack runs: every answer's latency, and the worst one.

with HealthWatch(stack.api.url) as watch:
    ... hostile requests ...
assert watch.worst < HEALTHZ_BUDGET_S, watch.summary()
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import httpx

HEALTHZ_BUDGET_S = 0.5  # "a few hundred ms" on a 2-core machine shared with other suites


class HealthWatch:
    """Poll GET /healthz every `interval_s` in a thread; record each answer's latency."""

    def __init__(self, base_url: str, interval_s: float = 0.05) -> None:
        self.base_url = base_url
        self.interval_s = interval_s
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.get("/healthz").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.perf_counter() - started)
                self._stop.wait(self.interval_s)

    @property
    def worst(self) -> float:
        """Return the slowest /healthz answer seen (seconds); inf if there was none."""
        return max(self.latencies) if self.latencies else float("inf")

    def summary(self) -> str:
        """Describe what was seen (for assertion messages)."""
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] if ordered else float("nan")
        return (
            f"{len(self.latencies)} probes, p50 {p50 * 1000:.0f} ms, "
            f"worst {self.worst * 1000:.0f} ms, failures {self.failures[:3]}"
        )

    def assert_healthy(self) -> None:
        """Fail unless every probe answered 200 within HEALTHZ_BUDGET_S."""
        assert not self.failures and self.worst < HEALTHZ_BUDGET_S, self.summary()

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        time.sleep(self.interval_s * 2)  # at least one probe before the attack
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._stop.set()
        self._thread.join(timeout=15)
