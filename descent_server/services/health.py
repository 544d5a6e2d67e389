"""Readiness: is the database reachable, is the broker reachable."""

from __future__ import annotations

import logging

from descent_server.db.session import session_factory
from descent_server.repository import health as repo

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0


def database_ok() -> bool:
    """True when the database answers a trivial query."""
    try:
        with session_factory() as session:
            repo.ping(session)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database unreachable", exc_info=True)
        return False


def broker_ok() -> bool:
    """True when a connection to the Celery broker can be established quickly."""
    try:
        from descent_server.workers.queue import producer

        with producer().connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: broker unreachable", exc_info=True)
        return False


def readiness() -> dict[str, str]:
    """Return {"database": "ok"|"down", "broker": "ok"|"down"}."""
    return {
        "database": "ok" if database_ok() else "down",
        "broker": "ok" if broker_ok() else "down",
    }
