"""Readiness: is the database reachable, is the broker reachable.

The broker is reached through a ping the caller passes in (the API wires the workers' one):
services know nothing of Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from descent_server.db.session import session_factory
from descent_server.repository import health as repo

log = logging.getLogger(__name__)

BrokerPing = Callable[[], None]  # returns when the broker answers, raises when it does not


def database_ok() -> bool:
    """True when the database answers a trivial query."""
    try:
        with session_factory() as session:
            repo.ping(session)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database unreachable", exc_info=True)
        return False


def broker_ok(ping: BrokerPing) -> bool:
    """True when `ping` reaches the broker."""
    try:
        ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: broker unreachable", exc_info=True)
        return False


def readiness(*, broker_ping: BrokerPing) -> dict[str, str]:
    """Return {"database": "ok"|"down", "broker": "ok"|"down"}."""
    return {
        "database": "ok" if database_ok() else "down",
        "broker": "ok" if broker_ok(broker_ping) else "down",
    }
