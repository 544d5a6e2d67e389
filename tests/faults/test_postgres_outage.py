"""Issue 5, test 4: stop PostgreSQL for ~20 s mid-run.

Meanwhile the API answers 503 (quickly, with a JSON detail) and /readyz names the
database; the worker keeps its epochs buffered and retries, so the run completes with
every epoch exactly once. The PostgreSQL stopped is the fault suite's private cluster (the
shared server on 5432 serves every other test and is never touched).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import PrivatePostgres, PrivateRedis
from tests.faults.stack import Stack, new_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
OUTAGE_S = 20.0


@pytest.fixture
def pg_stack(
    private_pg: PrivatePostgres, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[Stack]:
    """A stack of its own (database, API) on the private cluster and Redis db 1."""
    private_pg.ensure_running()
    private_redis.client(1).flushdb()
    stack = Stack(
        database_url=new_database(private_pg), broker_url=private_redis.url(1), tmp=tmp_path
    )
    try:
        yield stack.start()
    finally:
        stack.close()
        private_pg.ensure_running()  # the cluster serves the other fault tests too
        private_redis.client(1).flushdb()


def test_a_20s_postgres_outage_answers_503_and_loses_no_epoch(
    private_pg: PrivatePostgres, pg_stack: Stack
) -> None:
    pg, stack = private_pg, pg_stack
    client = stack.http
    # A lease longer than the outage: the worker's retries, not a restart, bridge it.
    with stack.worker("worker", lease_timeout_s="60"):
        run_id = stack.submit()
        stack.wait(run_id, until=lambda run: (run["progress"]["epoch"] or 0) >= 30)
        stopped_at = stack.run(run_id)["progress"]["epoch"]
        pg.stop()
        down_at = time.monotonic()
        codes: Counter[tuple[str, int]] = Counter()
        slowest = 0.0
        while time.monotonic() - down_at < OUTAGE_S:
            for method, path, body in (
                ("GET", f"/v1/runs/{run_id}", None),
                ("GET", f"/v1/runs/{run_id}/history", None),
                ("POST", "/v1/runs", stack.body()),
                ("GET", "/readyz", None),
            ):
                started = time.monotonic()
                response = client.request(method, path, json=body, timeout=30)
                slowest = max(slowest, time.monotonic() - started)
                codes[(path.split("/")[-1], response.status_code)] += 1
                assert response.status_code == 503, (method, path, response.text)
                if path == "/readyz":
                    assert response.json()["database"] == "down", response.text
                    assert response.json()["broker"] == "ok", response.text
                else:
                    assert "database" in response.json()["detail"], response.text
            assert client.get("/healthz").status_code == 200  # the process itself is up
            time.sleep(1.0)
        pg.start()
        run = stack.wait(run_id)
    print(f"\noutage: stopped at epoch {stopped_at}; answers {dict(codes)}; slowest {slowest:.2f}s")
    assert stopped_at < 300, "the run finished before the outage began"
    assert run["status"] == "succeeded", run
    stack.assert_complete(run_id)
    assert run["attempt"] == 1  # the lease outlived the outage: no restart
    assert client.get("/readyz").status_code == 200
