"""Issue 5, test 6 over real HTTP: 50 concurrent submits with one Idempotency-Key, one run.

tests/api/test_concurrency.py races the app in one process (TestClient); this one races a
real uvicorn server on PostgreSQL and also checks the broker: exactly one message was sent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.faults.servers import PrivateRedis
from tests.faults.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_fifty_concurrent_submits_with_one_key_make_one_run_and_one_message(
    stack: Stack, private_redis: PrivateRedis
) -> None:
    headers = {**stack.http.headers, "Idempotency-Key": "faults-race"}
    body = stack.body(epochs=5)

    def submit(_: int) -> httpx.Response:
        return httpx.post(f"{stack.http.base_url}/v1/runs", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(submit, range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [202], [r.text for r in responses if r.status_code > 202][:3]
    assert len({r.json()["id"] for r in responses}) == 1
    assert private_redis.client(0).llen("cpu") == 1  # enqueued once, by the winner only
    replay_key = {"Idempotency-Key": "faults-race"}
    other = stack.http.post("/v1/runs", json=stack.body(epochs=6), headers=replay_key)
    assert other.status_code == 409, other.text
    run_id = responses[0].json()["id"]
    assert stack.http.post(f"/v1/runs/{run_id}/cancel").status_code == 202  # no worker here
