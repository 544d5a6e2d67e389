"""The clock and memory of one `wait()`: its deadline, the outage it rides out, what it saw.

A `wait()` outlives API restarts: a connection error or a 502/503/504 is retried with
backoff until the server has been unreachable for `retry_for` seconds. When it gives up,
for either reason, the error names the run (or sweep) and the last status it saw.
"""

from __future__ import annotations

import time
from typing import Any

from ._base import OUTAGE_STATUSES
from ._exceptions import APIError, DescentError, TransportError, WaitTimeout

MAX_OUTAGE_DELAY = 5.0  # poll a restarting server at least this often


def is_outage(exc: BaseException) -> bool:
    """True for the errors of a server that is restarting or briefly down."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, APIError) and exc.status in OUTAGE_STATUSES


class Waiter:
    """Track one wait: raise WaitTimeout at the deadline, TransportError after a long outage."""

    def __init__(self, what: str, timeout: float | None, retry_for: float) -> None:
        self.what = what
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.retry_for = retry_for
        self.last: dict[str, Any] = {}
        self._down_since: float | None = None
        self._failures = 0

    def seen(self, data: Any) -> None:
        """Remember the latest state fetched (the server answered)."""
        if isinstance(data, dict):
            self.last = data
        self._down_since, self._failures = None, 0

    def remaining(self) -> float | None:
        """Return the seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise WaitTimeout once the deadline has passed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise self.timed_out()

    def timed_out(self) -> WaitTimeout:
        """Return the WaitTimeout of this wait (run id and last status in the message)."""
        return WaitTimeout(f"gave up waiting for {self.what} after {self.timeout}s: {self.state()}")

    def failed(self, exc: DescentError) -> float:
        """Record a failed request; return the delay before the next try, or raise."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        down = now - self._down_since
        if down >= self.retry_for:
            raise TransportError(
                f"gave up waiting for {self.what}: the server did not answer for {down:.0f}s "
                f"(wait_retry_s={self.retry_for:g}); {self.state()}; last error: {exc}"
            ) from exc
        self.check()
        self._failures += 1
        delay = min(MAX_OUTAGE_DELAY, 0.25 * float(2 ** min(self._failures, 10)))
        left = self.remaining()
        return delay if left is None else min(delay, left)

    def state(self) -> str:
        """Describe the last status seen: "last status running (epoch 12 of 300)"."""
        if not self.last:
            return "no status seen yet"
        progress = self.last.get("progress") or {}
        epoch, epochs = progress.get("epoch"), progress.get("epochs")
        where = f" (epoch {epoch} of {epochs})" if epoch is not None else ""
        return f"last status {self.last.get('status')}{where}"
