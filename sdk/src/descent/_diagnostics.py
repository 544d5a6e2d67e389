"""Why a run is (or isn't) learning: the findings the server makes while it trains.

Each `Diagnosis` has a code (`diverging`, `unscaled_features`, ...), a severity (`info`,
`warning` or `error`), the epoch it was found at, a plain-words message, a hint (what to
change) and the evidence (the numbers behind it). `str(diagnosis)` reads as two lines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ._base import Event

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Diagnosis:
    """One finding about a run: what happened (`message`) and what to change (`hint`)."""

    code: str
    severity: str = "info"
    epoch: int | None = None
    message: str = ""
    hint: str = ""
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnosis:
        """Build a Diagnosis from its API JSON (one item of a Run's `diagnostics`)."""
        return cls(
            code=str(data.get("code", "")),
            severity=str(data.get("severity") or "info"),
            epoch=data.get("epoch"),
            message=str(data.get("message") or ""),
            hint=str(data.get("hint") or ""),
            evidence=dict(data.get("evidence") or {}),
        )

    @property
    def key(self) -> tuple[str, int | None, str]:
        """Return what makes a finding new: its code, epoch and message."""
        return (self.code, self.epoch, self.message)

    def __str__(self) -> str:
        where = f" at epoch {self.epoch}" if self.epoch is not None else ""
        line = f"{self.severity.upper()} {self.code}{where}: {self.message}"
        return f"{line}\n  hint: {self.hint}" if self.hint else line


def diagnoses_from_json(items: Any) -> list[Diagnosis]:
    """Return the Diagnosis objects of a Run's `diagnostics` list (None or junk: [])."""
    if not isinstance(items, list):
        return []
    return [Diagnosis.from_json(item) for item in items if isinstance(item, dict)]


def typed_event(event: Event) -> Event:
    """Return the event with a `diagnosis` event's data as a Diagnosis (others as they are)."""
    if event.event == "diagnosis" and isinstance(event.data, dict):
        return replace(event, data=Diagnosis.from_json(event.data))
    return event


def typed_events(stream: Iterator[Event]) -> Iterator[Event]:
    """Yield the events of `stream`, each through `typed_event`."""
    for event in stream:
        yield typed_event(event)


async def typed_async_events(stream: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Yield the events of an async `stream`, each through `typed_event`."""
    async for event in stream:
        yield typed_event(event)
