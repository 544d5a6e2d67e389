"""An in-process token bucket per API key for run submissions (429 with Retry-After)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from descent_server.services.errors import RateLimited


class TokenBucket:
    """`rate_per_minute` tokens refill continuously; a burst of up to that many is allowed."""

    def __init__(self, rate_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(rate_per_minute, 1))
        self.per_second = self.capacity / 60.0
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def take(self, key: str, n: int = 1) -> None:
        """Spend `n` tokens of `key`'s bucket or raise RateLimited with the wait in seconds."""
        with self._lock:
            now = self._clock()
            tokens, last = self._state.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if n > self.capacity:
                raise RateLimited(
                    f"{n} submissions exceed the limit of {int(self.capacity)} per minute",
                    retry_after=60,
                )
            if tokens < n:
                self._state[key] = (tokens, now)
                wait = math.ceil((n - tokens) / self.per_second)
                raise RateLimited("too many submissions; slow down", retry_after=max(wait, 1))
            self._state[key] = (tokens - n, now)
