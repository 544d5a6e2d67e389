"""One Redis database (1..15) per test or benchmark, reserved by a marker key.

Test processes, xdist workers and benchmarks share one Redis server; a database whose
marker another run set is skipped, so two runs never share a broker.
"""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Iterator

import redis

REDIS_HOST = "redis://127.0.0.1:6379"
REDIS_MARKER = "descent:test:reserved"


@contextlib.contextmanager
def reserved_redis_db(tag: str = "test") -> Iterator[str]:
    """Yield the URL of a free Redis database, emptied; flushed (which frees it) afterwards."""
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    token = f"{tag}-{os.getpid()}-{uuid.uuid4().hex}"
    for number in numbers:
        client = redis.Redis.from_url(f"{REDIS_HOST}/{number}")
        if client.set(REDIS_MARKER, token, nx=True, ex=3600):
            break
        client.close()
    else:
        raise RuntimeError("no free Redis database (1..15)")
    try:
        for key in client.scan_iter():
            if key != REDIS_MARKER.encode():
                client.delete(key)
        yield f"{REDIS_HOST}/{number}"
    finally:
        client.flushdb()  # also drops the marker: the number is free again
        client.close()
