"""A loss curve fed one value at a time, with the running statistics the loss rules read.

The rules ask for the first and latest values, the last few, the least value of all and of
all but the latest, and (the plateau rule) the least of the last `window` values and of the
values before them. Each is kept as the values arrive, at O(1) amortised cost per value, so
watching a run costs the same at every epoch: rules that rescanned the whole curve made
watching quadratic in the run's length. Minima are exact (the same float a scan returns).
"""

from __future__ import annotations

import math
from array import array
from collections import deque


class Curve:
    """The finite values of one loss curve, in the order recorded."""

    def __init__(self) -> None:
        """Start an empty curve."""
        self.values = array("d")
        self.first = self.last = math.nan  # the first and the latest value
        self.best = math.inf  # the least value
        self.best_before = math.inf  # the least value but the latest
        self._window = 0  # the plateau window the two structures below follow (0: none yet)
        self._recent: deque[int] = deque()  # indices in the window, their values ascending
        self._folded = 0  # how many leading values `_before` covers
        self._before = math.inf  # the least of values[:_folded]

    def __len__(self) -> int:
        return len(self.values)

    def tail(self, k: int) -> list[float]:
        """Return the last `k` values (all of them when there are fewer), oldest first."""
        return self.values[-k:].tolist()

    def append(self, value: float) -> None:
        """Add the next value (finite)."""
        if not self.values:
            self.first = value
        self.last, self.best_before = value, self.best
        if value < self.best:
            self.best = value
        self.values.append(value)
        if self._window:
            self._slide(len(self.values) - 1)

    def window_minima(self, window: int) -> tuple[float, float]:
        """Return (least value before the last `window` values, least of those `window`).

        Needs more than `window` values. The first call for a window (and a call for a new
        one) reads every value once; later calls are O(1).
        """
        if window != self._window:
            self._window, self._folded, self._before = window, 0, math.inf
            self._recent.clear()
            for i in range(len(self.values)):
                self._slide(i)
        return self._before, self.values[self._recent[0]]

    def _slide(self, i: int) -> None:
        """Take value i into the window, dropping (and folding) what leaves it."""
        values, recent = self.values, self._recent
        value = values[i]
        while recent and values[recent[-1]] > value:  # ties keep the earlier index, as min()
            recent.pop()
        recent.append(i)
        start = i + 1 - self._window
        while recent[0] < start:
            recent.popleft()
        while self._folded < start:
            if values[self._folded] < self._before:
                self._before = values[self._folded]
            self._folded += 1
