"""The embedded mode's file broker: no reader ever sees a half-written file.

kombu's own filesystem transport fails the first test every time (each consumer read finds
an empty file and raises JSONDecodeError): a consumer polling fast takes a message file
between its creation and its write. CI once lost a run to exactly that.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

from kombu import Connection

from descent_server.workers import file_broker
from descent_server.workers.config import make_app

MESSAGES = 40
PAYLOAD = 2_000_000  # big enough that writing one takes longer than a consumer's poll
BINDERS = 2
QUEUES_EACH = 25


def _options(root: Path) -> dict[str, Any]:
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "store_processed": True,
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
        "polling_interval": 0.001,
    }


def _connection(root: Path) -> Connection:
    return Connection(
        "filesystem://", transport=file_broker.Transport, transport_options=_options(root)
    )


def _produce(root: Path) -> None:
    with _connection(root) as conn:
        queue = conn.SimpleQueue("cpu")
        for i in range(MESSAGES):
            queue.put({"i": i, "pad": "x" * PAYLOAD})


def _bind(root: Path, who: int) -> None:
    with _connection(root) as conn:
        channel = conn.default_channel
        for q in range(QUEUES_EACH):
            channel._queue_bind("runs", f"key-{who}-{q}", "", f"queue-{who}-{q}")


def _tmp_broker(tmp_path: Path) -> Path:
    for name in ("queue", "processed", "control"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_a_fast_consumer_gets_every_message_whole_and_in_order(tmp_path: Path) -> None:
    root = _tmp_broker(tmp_path)
    received: list[int] = []
    with _connection(root) as conn:
        queue = conn.SimpleQueue("cpu")  # bound before the producer starts publishing
        producer = multiprocessing.get_context("spawn").Process(target=_produce, args=(root,))
        producer.start()
        deadline = time.monotonic() + 120
        while len(received) < MESSAGES and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=0.5)
            except queue.Empty:
                continue
            assert len(message.payload["pad"]) == PAYLOAD
            received.append(message.payload["i"])
            message.ack()
        producer.join(timeout=60)
    assert producer.exitcode == 0
    assert received == list(range(MESSAGES))
    leftovers = [p.name for p in (root / "queue").iterdir()]
    assert leftovers == [], "no message left behind, no temporary file either"


def test_concurrent_binders_and_readers_keep_the_routing_table_whole(tmp_path: Path) -> None:
    root = _tmp_broker(tmp_path)
    context = multiprocessing.get_context("spawn")
    binders = [context.Process(target=_bind, args=(root, who)) for who in range(BINDERS)]
    reads = 0
    with _connection(root) as conn:
        channel = conn.default_channel
        for binder in binders:
            binder.start()
        while any(binder.is_alive() for binder in binders):
            channel.get_table("runs")  # a torn table would raise JSONDecodeError here
            reads += 1
        table = channel.get_table("runs")
    assert all(binder.exitcode == 0 for binder in binders)
    assert reads > 0
    expected = {f"queue-{who}-{q}" for who in range(BINDERS) for q in range(QUEUES_EACH)}
    assert {entry.queue for entry in table} == expected  # no binder's update was lost


def test_the_embedded_app_uses_the_atomic_transport(tmp_path: Path) -> None:
    from descent_server.settings import Settings

    app = make_app(Settings(data_dir=tmp_path, broker_url=""))
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, file_broker.Transport)
    redis_app = make_app(Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/15"))
    with redis_app.connection_for_write() as conn:
        assert not isinstance(conn.transport, file_broker.Transport)
