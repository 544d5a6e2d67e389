"""Issue 5, test 2: runs committed but never enqueued (or whose message was lost) still run.

Two ways a committed run loses its message: the API dies between the commit and the
enqueue, or the broker is flushed. Either way the row says `queued` and the broker holds
nothing; lease recovery inside the worker notices and sends the run again.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from descent_server.services import kinds
from descent_server.services import runs as run_service
from tests.faults.servers import PrivateRedis
from tests.faults.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


class ApiKilled(BaseException):
    """The API process dying right after its commit (not an error it could catch)."""


def commit_without_enqueue(stack: Stack) -> str:
    """Submit through the run service as the API does, dying before the enqueue; return the id."""
    doomed: list[str] = []

    def die(run_id: str, queue: str) -> None:
        doomed.append(run_id)
        raise ApiKilled

    request = kinds.parse_request(stack.body(), ["body"])
    with sessionmaker(bind=stack.engine)() as session, pytest.raises(ApiKilled):
        run_service.submit(
            session=session, owner="faults", request=request, idempotency_key=None, enqueue=die
        )
    return doomed[0]


def test_lease_recovery_runs_committed_runs_whose_message_never_arrived(
    stack: Stack, private_redis: PrivateRedis
) -> None:
    broker = private_redis.client(0)
    flushed = [stack.submit(epochs=100) for _ in range(2)]  # no worker yet: they wait in Redis
    assert broker.llen("cpu") == 2
    broker.flushdb()  # ... and the broker forgets them
    never_sent = commit_without_enqueue(stack)
    assert broker.dbsize() == 0
    runs = [*flushed, never_sent]
    assert [stack.run(run_id)["status"] for run_id in runs] == ["queued"] * 3

    with stack.worker("recovering", requeue_after_s="1"):
        for run_id in runs:
            stack.wait(run_id)
    stack.assert_complete(never_sent, epochs=300)
    for run_id in flushed:
        stack.assert_complete(run_id, epochs=100)
    assert [stack.run(run_id)["attempt"] for run_id in runs] == [1, 1, 1]
