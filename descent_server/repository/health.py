"""The cheapest query there is, to tell whether the database answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def ping(session: Session) -> None:
    """Run `SELECT 1` (raises if the database is unreachable)."""
    session.execute(text("SELECT 1"))
