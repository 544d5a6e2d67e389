"""Fixtures for the ops tests: an isolated embedded configuration per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from descent_server.db.session import reset_engine
from descent_server.settings import get_settings


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point settings at a fresh SQLite data dir (no DESCENT_* from outside leaks in)."""
    for key in list(os.environ):
        if key.startswith("DESCENT_"):
            monkeypatch.delenv(key)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DESCENT_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    get_settings.cache_clear()
    reset_engine()
    yield data_dir
    reset_engine()
    get_settings.cache_clear()
