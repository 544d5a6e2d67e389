"""Fixtures of the store tests: a run claimed by its first attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from descent_server.repository import leases
from tests.helpers.runs import insert_run


@pytest.fixture
def running(session_factory: sessionmaker[Session]) -> Iterator[tuple[Session, str, int]]:
    """A session and a run claimed by attempt 1."""
    with session_factory() as session:
        run_id = insert_run(session)
        attempt = leases.claim(session, run_id)
        session.commit()
        assert attempt == 1
        yield session, run_id, attempt
