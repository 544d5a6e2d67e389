"""A run's diagnostics in the worker: feed its kind's engine each epoch, keep what it finds.

The history writer hands every epoch record to `Diagnoser.observe` (pure computation, no
query) and writes `take()` with its next batch of epochs, in the same fenced transaction.
Findings stored by an earlier attempt stay: they seed the engine, so a resumed attempt does
not report them again, and a finding is kept once per (code, severity). Diagnostics never
fail a run: an engine that cannot be built or raises is logged and switched off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from celery.exceptions import SoftTimeLimitExceeded

from descent_server.ml.diagnostics import Diagnostics, Finding
from descent_server.ml.diagnostics.findings import SEVERITY_RANK
from descent_server.ml.types import EpochRecord

if TYPE_CHECKING:
    from descent_server.services.kinds.base import KindAdapter, TrainingJob

log = logging.getLogger(__name__)

# The engine costs O(1) per record (its curves keep running minima), about 5 µs: a whole
# 100,000-epoch regression would spend 0.5 s on it, more than the rest of its training. A
# longer run (a regression may have 1,000,000 epochs) is fed every `stride`-th epoch, at
# most this many records in all: at most ~50 ms per run.
MAX_OBSERVED = 10_000


class Diagnoser:
    """The findings of one attempt: those stored before it, then the engine's new ones."""

    def __init__(
        self, engine: Diagnostics | None, stored: Sequence[Mapping[str, Any]], epochs: int
    ) -> None:
        """Wrap `engine` (None: no diagnostics) for a run of `epochs` with `stored` findings."""
        self.engine = engine
        self.found: list[dict[str, Any]] = [dict(f) for f in stored]
        self.keys = {(f["code"], f["severity"]) for f in self.found}
        self.stride = max(1, math.ceil(epochs / MAX_OBSERVED))
        self.dirty = False
        if engine is not None:
            engine.epochs = math.ceil(epochs / self.stride)  # its windows count records fed
            for finding in self.found:
                seen = engine.reported.get(finding["code"])
                rank = SEVERITY_RANK.get(finding["severity"], 0)
                if seen is None or rank > SEVERITY_RANK[seen["severity"]]:
                    engine.reported[finding["code"]] = cast(Finding, finding)

    def observe(self, record: EpochRecord) -> None:
        """Feed one epoch record to the engine; keep the findings not kept before."""
        if self.engine is None or record.epoch % self.stride:
            return
        try:
            new = self.engine.observe(record)
        except SoftTimeLimitExceeded:  # the task's time limit, landing here: not our bug
            raise
        except Exception:  # noqa: BLE001 - a diagnostics bug must not fail the training
            log.exception("diagnostics failed at epoch %d; switched off", record.epoch)
            self.engine = None
            return
        for finding in new:
            key = (finding["code"], finding["severity"])
            if key not in self.keys:
                self.keys.add(key)
                self.found.append(dict(finding))
                self.dirty = True

    def take(self) -> list[dict[str, Any]] | None:
        """Return every finding (stored and new) when some are not yet written, else None."""
        if not self.dirty:
            return None
        self.dirty = False
        return list(self.found)


def start(
    adapter: KindAdapter, job: TrainingJob, stored: Sequence[Mapping[str, Any]] | None, epochs: int
) -> Diagnoser:
    """Return the Diagnoser of a training job: its kind's engine, seeded with `stored`."""
    try:
        engine = adapter.diagnostics(job)
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # noqa: BLE001 - the run trains without diagnostics
        log.exception("run %s: diagnostics could not be set up", job.run_id)
        engine = None
    return Diagnoser(engine, stored or [], epochs)
