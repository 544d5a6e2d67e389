"""Learning-rate range tests: submit (validated like a run), run in a worker, read, plot.

A test takes a whole run request and trains that model for `steps` mini-batches at a learning
rate growing from `min_lr` to `max_lr` (ml/lr_range.py); its suggestion can seed a sweep
(`{"around": id}`, see `around_axis`).

A lost worker cannot leave a test live forever: the task is idempotent (a test is claimed
from queued once; a redelivered message finds it running and does nothing), and when tests
are read, the owner's tests still queued after QUEUED_TIMEOUT_S or running past the task's
hard time limit (plus LEASE_MARGIN_S) are failed with `worker_lost`.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from descent_server.db.models import LrRangeTest
from descent_server.db.session import session_scope
from descent_server.domain import Status
from descent_server.repository import lr_range_tests as repo
from descent_server.repository.pages import BadCursor
from descent_server.services import cost, kinds
from descent_server.services.datasets import load_columns
from descent_server.services.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    NotReady,
    RateLimited,
)
from descent_server.services.kinds.base import KindAdapter, RunSpec
from descent_server.services.kinds.linear_regression import LinearRegression
from descent_server.services.kinds.mlp import MLPKind
from descent_server.services.plot_data import PlotOptions
from descent_server.services.plots import Picture, cached_picture, check_size, read
from descent_server.services.render_pool import Job
from descent_server.settings import get_settings

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]  # (test id, queue)
QUEUED_TIMEOUT_S = 3600.0  # never picked up (broker lost the message): failed when read
LEASE_MARGIN_S = 60.0
WORKER_LOST = {"code": "worker_lost", "message": "the worker running this range test stopped"}
AROUND_BELOW, AROUND_ABOVE = 10.0, 3.0  # an "around" axis spans suggestion/10 … suggestion×3
AROUND_GRID_POINTS = 5  # a grid sweep's "around" axis: this many log-spaced values
BODY = ("body",)


def learning_rate_field(adapter: KindAdapter) -> str | None:
    """Return the (dotted) hyperparameter that is the kind's learning rate, if any."""
    if isinstance(adapter, LinearRegression):
        return "learning_rate"
    if isinstance(adapter, MLPKind):
        return "optimizer.learning_rate"
    return None


def engine_config(adapter: KindAdapter, hyperparameters: dict[str, Any]) -> Any:
    """Return the engine config (MLPConfig or RegressionConfig) of filled hyperparameters."""
    if isinstance(adapter, MLPKind):
        return adapter.config(adapter.hyperparameters.model_validate(hyperparameters))
    if isinstance(adapter, LinearRegression):
        from descent_server.services.kinds.linear_regression import config_of

        return config_of(hyperparameters)
    raise InvalidInput.at([*BODY, "run", "kind"], f"{adapter.kind} runs have no range test")


def check_range(min_lr: float, max_lr: float, steps: int) -> None:
    """Refuse (422 at the field) a schedule the engine would not run."""
    from descent_server.ml.lr_range import MAX_STEPS, MIN_STEPS

    if not (math.isfinite(min_lr) and min_lr > 0):
        raise InvalidInput.at([*BODY, "min_lr"], "a finite number above 0")
    if not (math.isfinite(max_lr) and max_lr > min_lr):
        raise InvalidInput.at([*BODY, "max_lr"], "a finite number above min_lr")
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise InvalidInput.at([*BODY, "steps"], f"from {MIN_STEPS} to {MAX_STEPS}")


def step_cost(*, steps: int, n_params: int, batch_rows: int) -> cost.Estimate:
    """Return the test's compute: steps × (rows per batch × parameters + a batch's overhead)."""
    compute = {
        "data": float(steps) * batch_rows * n_params,
        "batches": float(steps) * cost.BATCH_OVERHEAD,
    }
    return cost.Estimate(n_params=n_params, compute=compute, stored={})


def submit(
    *,
    session: Session,
    owner: str,
    request: RunSpec,
    min_lr: float,
    max_lr: float,
    steps: int,
    enqueue: Enqueue,
) -> LrRangeTest:
    """Validate a range test of a run request (as a run, plus its own cost), store, enqueue."""
    check_range(min_lr, max_lr, steps)
    adapter = kinds.get(request.kind)  # type: ignore[attr-defined]
    if learning_rate_field(adapter) is None:
        raise InvalidInput.at([*BODY, "run", "kind"], f"{adapter.kind} runs have no range test")
    try:
        data = kinds.request_data(session=session, owner=owner, request=request)
        prepared = adapter.prepare(request.hyperparameters, data)  # type: ignore[attr-defined]
        cost.check(prepared.estimate, adapter.size_field)
    except InvalidInput as exc:  # the run's own fields sit under "run" in this body
        raise InvalidInput(_under_run(exc.detail)) from None
    hp = prepared.hyperparameters
    n_rows = len(data.X)
    batch = hp.get("batch_size") or n_rows
    estimate = step_cost(steps=steps, n_params=prepared.estimate.n_params,
                         batch_rows=min(int(batch), n_rows))  # fmt: skip
    limit = get_settings().max_run_cost
    if estimate.cost > limit:
        raise InvalidInput.at(
            [*BODY, "steps"],
            f"estimated cost {estimate.cost:.3g} multiply-adds (steps × (batch rows × "
            f"{estimate.n_params:,} parameters + {cost.BATCH_OVERHEAD:,})) is above the limit "
            f"of {limit:.3g}: use fewer steps or a smaller batch_size",
        )
    check_capacity(session=session, owner=owner)
    epochs = max(1, math.ceil(steps * min(int(batch), n_rows) / n_rows))
    body = request.model_dump(mode="json")
    body["hyperparameters"] = hp
    test = LrRangeTest(
        id=str(uuid.uuid4()), owner=owner, kind=adapter.kind, status=Status.QUEUED,
        request=body, queue=adapter.route(device=request.device, n_rows=n_rows, epochs=epochs),
        min_lr=min_lr, max_lr=max_lr, steps=steps, attempt=0,
    )  # fmt: skip
    repo.add(session, test)
    session.commit()
    try:
        enqueue(test.id, test.queue)
    except Exception:  # noqa: BLE001 - the test stays queued; reading it later fails it
        log.warning("enqueue of range test %s failed", test.id, exc_info=True)
    return test


def _under_run(detail: Any) -> Any:
    """Move a run error's locations from ["body", ...] to ["body", "run", ...]."""
    if isinstance(detail, str):
        return [{"loc": [*BODY, "run"], "msg": detail}]
    moved = []
    for item in detail:
        loc = list(item.get("loc", []))
        if loc[:1] == ["body"]:
            loc = ["body", "run", *loc[1:]]
        moved.append({**item, "loc": loc})
    return moved


def check_capacity(*, session: Session, owner: str) -> None:
    """Refuse (429) a test past max_concurrent_runs live range tests of the owner."""
    limit = get_settings().max_concurrent_runs
    live = repo.count_live(session, owner=owner)
    if live >= limit:
        raise RateLimited(
            f"{live} range tests are queued or running; the limit is {limit} per owner",
            retry_after=10,
        )


def expire(session: Session, owner: str) -> None:
    """Fail the owner's tests that a lost worker or message left live (module docstring)."""
    running_s = get_settings().lr_range_soft_time_limit_s + 60 + LEASE_MARGIN_S
    repo.expire(
        session, owner=owner, queued_s=QUEUED_TIMEOUT_S, running_s=running_s, error=WORKER_LOST
    )
    session.commit()  # even when nothing changed: SQLite keeps the write lock until then


def get(*, session: Session, test_id: str, owner: str) -> LrRangeTest:
    """Return the owner's range test or raise NotFound."""
    expire(session, owner)
    test = repo.get(session, test_id=test_id, owner=owner)
    if test is None:
        raise NotFound(f"lr range test {test_id} not found")
    return test


def list_page(
    *, session: Session, owner: str, limit: int, cursor: str | None
) -> tuple[list[LrRangeTest], str | None]:
    """Return one page of the owner's range tests, newest first, and the next cursor."""
    expire(session, owner)
    try:
        return repo.list_page(session, owner=owner, limit=limit, cursor=cursor)
    except BadCursor:
        raise InvalidInput.at(["query", "cursor"], "invalid cursor") from None


def around_axis(
    *, session: Session, owner: str, kind: str, name: str, test_id: Any, grid: bool,
    loc: list[str | int],
) -> Any:  # fmt: skip
    """Return the sweep axis `{"around": test_id}` stands for: suggestion/10 … ×3, log-spaced.

    A grid gets AROUND_GRID_POINTS values, a random search `{"log_uniform": [lo, hi]}`. Only
    the kind's learning rate, of a succeeded test of the same kind (409 before that).
    """
    field = learning_rate_field(kinds.get(kind))
    if field is None or name != field:
        where = f"only {field}" if field else "no hyperparameter"
        raise InvalidInput.at(loc, f"an around axis is allowed for {where} of {kind} runs")
    if not isinstance(test_id, str) or not test_id or len(test_id) > 64:
        raise InvalidInput.at(loc, "around takes the id of one of your lr range tests")
    test = repo.get(session, test_id=test_id, owner=owner)  # no expiry: no write here
    if test is None:
        raise NotFound(f"lr range test {test_id} not found")
    if test.kind != kind:
        raise InvalidInput.at(loc, f"lr range test {test_id} is of a {test.kind} run, not {kind}")
    suggested = (test.result or {}).get("suggested_learning_rate")
    if test.status != Status.SUCCEEDED or suggested is None:
        raise Conflict(f"lr range test {test_id} is {test.status}: no suggestion yet")
    lo, hi = suggested / AROUND_BELOW, suggested * AROUND_ABOVE
    if not grid:
        return {"log_uniform": [lo, hi]}
    return [float(f"{v:.4g}") for v in np.geomspace(lo, hi, AROUND_GRID_POINTS)]


# The worker's side.


def run_test(*, session_factory: Callable[[], Session], test_id: str) -> str | None:
    """Run range test `test_id` if it is still queued; return its final status (None: skipped)."""
    with session_scope(session_factory) as session:
        attempt = repo.claim(session, test_id)
    if attempt is None:
        log.info("range test %s not claimable (running, final or gone)", test_id)
        return None
    result, error = None, None
    try:
        result = _run(session_factory, test_id)
        status = Status.SUCCEEDED
    except (DomainError, ValueError) as exc:  # the engine's InvalidData is a ValueError
        status, error = Status.FAILED, {"code": "invalid_data", "message": str(exc)}
    except SoftTimeLimitExceeded:
        status = Status.FAILED
        error = {
            "code": "time_limit",
            "message": f"past the limit of {get_settings().lr_range_soft_time_limit_s} s",
        }
    except Exception:
        log.exception("range test %s failed", test_id)
        status = Status.FAILED
        error = {"code": "internal", "message": "the range test failed with an internal error"}
    with session_scope(session_factory) as session:
        done = repo.finish(session, test_id, attempt, status=status, result=result, error=error)
    return status if done else None


def _run(session_factory: Callable[[], Session], test_id: str) -> dict[str, Any]:
    """Load the test's data and run the engine; return the stored result."""
    from descent_server.ml.lr_range import lr_range_test

    with session_scope(session_factory) as session:
        test = repo.by_id(session, test_id)
        if test is None:
            raise NotFound(f"lr range test {test_id} is gone")
        request = dict(test.request)
        columns = load_columns(session=session, dataset_id=request["dataset_id"], owner=test.owner)
        min_lr, max_lr, steps, kind = test.min_lr, test.max_lr, test.steps, test.kind
    data = kinds.training_data(
        columns, kind=kind, features=request["features"], target=request["target"]
    )
    config = engine_config(kinds.get(kind), request["hyperparameters"])
    outcome = lr_range_test(data.X, data.y, data.classes, config, min_lr, max_lr, steps)
    result = _finite(outcome.to_dict())
    result["seed"] = outcome.seed
    return result  # type: ignore[no-any-return]


def _finite(value: Any) -> Any:
    """Replace non-finite floats (JSON has none) with None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# The picture.


async def plot(
    *, test_id: str, owner: str, options: PlotOptions, if_none_match: str | None = None
) -> Picture:
    """Render the test's smoothed loss against a log learning rate, the suggestion marked."""
    from descent_server.services import render_pool

    check_size(options)
    test = await render_pool.pool().load(
        lambda: read(lambda session: get(session=session, test_id=test_id, owner=owner))
    )
    points = (test.result or {}).get("points") or []
    if not points:
        raise NotReady(f"lr range test {test_id} is {test.status}: no points yet")
    result = test.result or {}
    return await cached_picture(
        key=repr(("lr_range", test.id, test.status, options)),
        media_type="image/png", if_none_match=if_none_match, owner=owner,
        load=lambda session: Job.of(
            "lr_range_plot",
            [p["learning_rate"] for p in points], [p["loss"] for p in points],
            suggested=result.get("suggested_learning_rate"), rule=result.get("rule"),
            width=options.width, height=options.height, dpi=options.dpi,
        ),
    )  # fmt: skip
