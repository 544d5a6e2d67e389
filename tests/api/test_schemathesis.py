"""Property-based requests from /openapi.json: no server errors, responses match the schema.

Auth is on, every schemathesis check runs (status codes, content types, headers, body
schemas, negative data rejected, positive data accepted, auth not ignored, ...), over every
operation, with positive and negative (schema-violating) inputs. Half the cases aim at real
objects (a dataset, a trained run, a sweep), so they get past the 404s. `bench/fuzz.py` is
the long run of the same thing (thousands of cases).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from tests.api.data import train_regression_run
from tests.api.helpers import MOVIES_RUN

EXAMPLES_PER_MODE = 10  # x 2 modes x ~30 operations: a few hundred cases
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"


def assert_every_check_enabled(config: SchemathesisConfig) -> None:
    """Fail unless the config runs every check schemathesis registers (stateful ones too)."""
    load_all_checks()
    checks = config.projects.default.checks
    names = CHECKS.get_all_names()
    assert len(names) >= 14 and all(checks.get_by_name(name=n).enabled for n in names), names


def seed(api: Any) -> dict[str, str]:
    """Create one object of each kind for owner A; return the path parameters that name them."""
    dataset = api.client.post(
        "/v1/datasets", json={"name": "d", "columns": {"x": [1, 2, 3], "y": [2, 4, 7]}},
        headers=api.a,
    )  # fmt: skip
    run = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)
    sweep = api.client.post(
        "/v1/sweeps", json={"run": MOVIES_RUN, "grid": {"learning_rate": [1e-10, 2e-10]}},
        headers=api.a,
    )  # fmt: skip
    assert (dataset.status_code, run.status_code, sweep.status_code) == (201, 202, 202)
    train_regression_run(run.json()["id"])
    return {
        "dataset_id": dataset.json()["id"],
        "run_id": run.json()["id"],
        "sweep_id": sweep.json()["id"],
    }


def cases(operation: Any, known: dict[str, str]) -> st.SearchStrategy[Any]:
    """Positive and negative cases, with random path parameters or the seeded objects' ids."""
    names = {p.name for p in operation.path_parameters}
    real = {name: value for name, value in known.items() if name in names}
    if operation.method.upper() == "DELETE":
        real = {}  # deleting a seeded object would leave every later case a 404
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if real:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    return st.one_of(strategies)


def fuzz(api: Any, examples: int) -> tuple[int, list[str]]:
    """Run `examples` cases per mode of every operation; return (cases, failures)."""
    known = seed(api)
    config = SchemathesisConfig.from_path(CONFIG)
    assert_every_check_enabled(config)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app, config=config)
    tried, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):
            continue  # an event stream does not end while its run is live

        @given(case=cases(operation, known))
        @settings(
            max_examples=examples * 2, deadline=None, suppress_health_check=list(HealthCheck),
            database=None, derandomize=True,
        )  # fmt: skip
        def check(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(headers=api.a)  # the checks the config enables: all

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report all operations
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return tried, failures


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)  # fmt: skip
def test_no_server_errors_and_schema_conformance(api: Any) -> None:
    """Every generated request gets a documented answer with a valid body, never a 5xx."""
    tried, failures = fuzz(api, EXAMPLES_PER_MODE)
    print(f"schemathesis: {tried} cases, {len(failures)} failing operations")
    assert not failures, "\n\n".join(failures)
    assert tried > 200
    assert api.client.get("/healthz").status_code == 200
