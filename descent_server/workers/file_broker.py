"""kombu's filesystem transport (the embedded mode's broker), with files written atomically.

kombu creates a message file under its final name and only then writes the payload, and
creates an exchange's routing table the same way. A process polling the folder can read
such a file in between, find it empty, and the JSON error stops the worker's consumer (and
loses the message). CI hit exactly that. Here every file is written under a temporary name
that kombu never reads and renamed into place when complete: a rename within one folder is
atomic, so a reader sees the whole file or none of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

TRANSPORT = f"{__name__}:Transport"  # the value for Celery's `broker_transport`
TEMP_PREFIX = ".partial-"  # kombu reads `<stamp>_<uuid>.<queue>.msg`; this never matches


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise ChannelError(f"Cannot write {path}") from exc


class Channel(filesystem.Channel):
    # kombu itself names the second argument `message` in one base class, `payload` in the other.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put a message on `queue`."""
        # The name kombu gives it: consumers take messages in name order.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        write_atomically(Path(self.data_folder_out) / name, str_to_bytes(dumps(payload)))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        """Add `queue` to the exchange's routing table, one binder at a time."""
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with open(table.with_name(f"{table.name}.lock"), "a") as guard:
            filesystem.lock(guard, filesystem.LOCK_EX)
            try:
                queues = self.get_table(exchange)
                if entry not in queues:
                    write_atomically(table, str_to_bytes(dumps([entry, *queues])))
            finally:
                filesystem.unlock(guard)


class Transport(filesystem.Transport):
    Channel = Channel
