"""services/diagnosis.py: the worker's side of diagnostics — what it keeps, writes and skips."""

from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from descent_server.ml.datasets import load_builtin
from descent_server.ml.diagnostics import Diagnostics, regression_diagnostics
from descent_server.ml.regression import RegressionConfig, train_regression
from descent_server.ml.types import EpochRecord
from descent_server.services.diagnosis import MAX_OBSERVED, Diagnoser, start

MOVIES = load_builtin("movies")
X, Y = MOVIES["num_want_to_see"][:, None], MOVIES["nums_audience"]
COURSE = RegressionConfig(learning_rate=2e-10, epochs=40)  # raw features: b never moves


def course_run(stored: list[dict[str, Any]], start_epoch: int = 0) -> Diagnoser:
    """Feed the course regression's records from `start_epoch` to a Diagnoser."""
    diagnoser = Diagnoser(regression_diagnostics(X, Y, COURSE), stored, COURSE.epochs)

    def on_epoch(record: EpochRecord) -> None:
        if record.epoch >= start_epoch:
            diagnoser.observe(record)

    train_regression(X, Y, COURSE, on_epoch=on_epoch)
    return diagnoser


def test_new_findings_are_taken_once_with_those_stored_before() -> None:
    diagnoser = course_run([])
    found = diagnoser.take()
    assert found is not None
    assert [(f["code"], f["severity"]) for f in found] == [
        ("unscaled_features", "warning"), ("unscaled_features", "error")
    ]  # fmt: skip
    assert diagnoser.take() is None  # written: nothing new until the engine finds more


def test_a_resumed_attempt_does_not_report_what_was_stored() -> None:
    first = course_run([]).found
    again = course_run(first, start_epoch=20)  # a resumed attempt: its engine is fresh
    assert again.take() is None and again.found == first
    warned = course_run(first[:1], start_epoch=20)  # only the warning was stored
    assert [f["severity"] for f in warned.take() or []] == ["warning", "error"]


def test_a_long_run_is_fed_every_kth_epoch_and_its_windows_count_records() -> None:
    engine = Diagnostics(kind="linear_regression", n_features=1, epochs=4 * MAX_OBSERVED)
    diagnoser = Diagnoser(engine, [], 4 * MAX_OBSERVED)
    assert diagnoser.stride == 4 and engine.epochs == MAX_OBSERVED
    for epoch in range(12):
        diagnoser.observe(EpochRecord(epoch=epoch, loss=1.0))
    assert engine.last_epoch == 8 and len(engine.loss) == 3


class Broken:
    """A kind whose diagnostics cannot even be built, or fail on a record."""

    def diagnostics(self, job: Any) -> Any:
        raise RuntimeError("no diagnostics today")

    def observe(self, record: EpochRecord) -> Any:
        raise RuntimeError("a bug in a rule")


class Job:
    run_id = "r"


def test_diagnostics_never_fail_a_run() -> None:
    stored = [{"code": "plateau", "severity": "warning", "epoch": 3, "message": "m",
               "hint": "h", "evidence": {}}]  # fmt: skip
    unbuilt = start(Broken(), Job(), stored, 10)  # type: ignore[arg-type]
    unbuilt.observe(EpochRecord(epoch=0, loss=1.0))
    assert unbuilt.engine is None and unbuilt.found == stored and unbuilt.take() is None
    failing = Diagnoser(Broken(), [], 10)  # type: ignore[arg-type]
    failing.observe(EpochRecord(epoch=0, loss=1.0))
    assert failing.engine is None  # switched off, the training goes on


class OutOfTime:
    """An engine interrupted by the task's soft time limit (its signal lands anywhere)."""

    reported: dict[str, Any] = {}
    epochs = 10

    def observe(self, record: EpochRecord) -> Any:
        raise SoftTimeLimitExceeded()


def test_the_time_limit_is_not_swallowed_as_a_diagnostics_bug() -> None:
    # Swallowed, the run would train on until the hard limit and fail with its message.
    with pytest.raises(SoftTimeLimitExceeded):
        Diagnoser(OutOfTime(), [], 10).observe(EpochRecord(epoch=0, loss=1.0))  # type: ignore[arg-type]
