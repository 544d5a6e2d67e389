"""Store a run's progress through the repository functions the real worker uses."""

from __future__ import annotations

from typing import Any

from descent_server.db.session import session_factory
from descent_server.ml.types import EpochRecord
from descent_server.repository import history, leases


class RunWriter:
    """Claim a run's lease, append epochs, finish it — what workers/ does, minus training."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        with session_factory() as session:
            attempt = leases.claim(session, run_id)
            session.commit()
        assert attempt is not None, "the run could not be claimed"
        self.attempt = attempt

    def epochs(self, epochs: range, **fields: Any) -> None:
        """Store regression-like epochs: loss 100/(e+1), params a=e/10, b=1 (or `params=`)."""
        params = fields.pop("params", None)  # None: a regression's a and b
        records = [
            EpochRecord(
                epoch=e,
                loss=100.0 / (e + 1),
                params={"a": e / 10, "b": 1.0} if params is None else params,
                **fields,
            )
            for e in epochs
        ]
        with session_factory() as session:
            assert history.append_epochs(session, self.run_id, self.attempt, records)
            session.commit()

    def analysis(self, analysis: dict[str, Any]) -> None:
        """Store run.analysis."""
        with session_factory() as session:
            assert leases.set_analysis(session, self.run_id, self.attempt, analysis)
            session.commit()

    def artifact(self, name: str, content: bytes, media_type: str) -> None:
        """Store a run file (the worker's model or weights)."""
        with session_factory() as session:
            assert history.put_artifact(
                session, self.run_id, name, content, media_type, attempt=self.attempt
            )
            session.commit()

    def finish(self, status: str = "succeeded", **values: Any) -> None:
        """Set the final status."""
        with session_factory() as session:
            assert leases.finish(session, self.run_id, self.attempt, status, **values)
            session.commit()
