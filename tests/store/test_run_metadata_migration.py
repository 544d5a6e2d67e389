"""Migration 0005 fills what runs stored before it lack: duration_s and dataset_name."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from descent_server.db.migrate import alembic_config, upgrade
from descent_server.db.session import make_engine
from tests.conftest import create_pg_database, drop_pg_database

RUN_COLUMNS = (
    "id, owner, kind, status, dataset_id, features, target, hyperparameters, device_request, "
    "queue, epochs, progress_epoch, metrics, attempt, cancel_requested, version, created_at, "
    "started_at, finished_at"
)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_0005_backfills_duration_and_dataset_name(backend: str, tmp_path: Path) -> None:
    name = f"descent_test_m5_{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite" else create_pg_database(name)
    try:
        command.upgrade(alembic_config(url), "0004")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO dataset (id, owner, name, n_rows, columns, sha256, content, "
                    "size_bytes, created_at) VALUES ('d1', 'alice', 'my points', 1, '[]', 'h', "
                    ":blob, 1, :at)"
                ),
                {"blob": b"x", "at": "2026-01-01 10:00:00"},
            )
            for run_id, dataset, started, finished in (
                ("r1", "d1", "2026-01-01 10:00:00", "2026-01-01 10:01:30.5"),
                ("r2", "builtin:movies", None, None),
                ("r3", "gone", "2026-01-01 10:00:00", None),
            ):
                conn.execute(
                    text(
                        f"INSERT INTO run ({RUN_COLUMNS}) VALUES (:id, 'alice', "
                        "'linear_regression', 'succeeded', :ds, '[]', 'y', '{}', 'auto', 'cpu', "
                        "1, -1, '{}', 0, false, 1, :at, :started, :finished)"
                    ),
                    {
                        "id": run_id,
                        "ds": dataset,
                        "at": "2026-01-01 10:00:00",
                        "started": started,
                        "finished": finished,
                    },  # fmt: skip
                )
        upgrade(url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, duration_s, dataset_name, tags FROM run ORDER BY id")
            ).all()
        engine.dispose()
        assert [(r[0], r[2]) for r in rows] == [("r1", "my points"), ("r2", "movies"), ("r3", None)]
        assert rows[0][1] == pytest.approx(90.5, abs=1e-3)
        assert rows[1][1] is None and rows[2][1] is None
        assert all(r[3] in ([], "[]") for r in rows)
    finally:
        if backend == "postgres":
            drop_pg_database(name)
