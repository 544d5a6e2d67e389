"""Put a run on a worker queue (after the run row is committed). Imports no Keras."""

from __future__ import annotations

import threading
from functools import lru_cache

from celery import Celery

from descent_server.settings import get_settings
from descent_server.workers.config import LR_RANGE_TASK, QUEUES, TRAIN_TASK, make_app

_lock = threading.Lock()
BROKER_TIMEOUT_S = 2.0  # a readiness probe waits no longer for the broker


@lru_cache(maxsize=4)
def _producer(broker_url: str, data_dir: str) -> Celery:
    return make_app(get_settings())


def producer() -> Celery:
    """Return a Celery app for the current settings' broker (cached per broker)."""
    settings = get_settings()
    return _producer(settings.resolved_broker_url(), str(settings.data_dir.resolve()))


def reset_producer() -> None:
    """Forget cached producers (tests switch brokers between tests)."""
    _producer.cache_clear()


def enqueue_run(run_id: str, queue: str = "cpu") -> None:
    """Send the training task for `run_id` to `queue` ("cpu" or "gpu")."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue: {queue}")
    # Publishing shares one broker connection pool; kombu's pool is not fork/thread-proof
    # on every transport, and a submit costs a millisecond, so serialize them.
    with _lock:
        producer().send_task(TRAIN_TASK, args=[run_id], queue=queue, routing_key=queue)


def enqueue_lr_range_test(test_id: str, queue: str = "cpu") -> None:
    """Send the range-test task for `test_id` to `queue` ("cpu" or "gpu")."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue: {queue}")
    with _lock:
        producer().send_task(LR_RANGE_TASK, args=[test_id], queue=queue, routing_key=queue)


def queue_depth(queue: str) -> int | None:
    """Return how many messages wait on `queue`, or None if the broker cannot say."""
    try:
        with producer().connection_for_write() as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # noqa: BLE001 - unknown depth: the caller errs on the side of requeueing
        return None


def ping_broker() -> None:
    """Connect to the current settings' broker quickly; raise if it cannot be reached."""
    with producer().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
