"""Shared rate limits and per-owner quotas, on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import select, text

from descent_server.db.migrate import alembic_config, upgrade
from descent_server.db.models import Dataset, RateLimit
from descent_server.db.session import make_engine, session_factory
from descent_server.services import datasets, ratelimit
from descent_server.services.errors import InvalidInput, RateLimited, TooLarge
from descent_server.services.runs import check_capacity
from descent_server.settings import Settings
from tests.conftest import refresh_settings
from tests.helpers.runs import insert_run

THREADS = 40


def knobs(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    """Set DESCENT_* knobs for this test and reload the settings."""
    for key, value in values.items():
        monkeypatch.setenv(f"DESCENT_{key.upper()}", value)
    return refresh_settings()


def at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i < n in n threads released together; return results or exceptions."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait(timeout=60)
        try:
            return work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test compares
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_bucket_allows_a_minute_burst_then_refills(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, upload_rate_per_minute="60")  # one a second, a burst of 60
    now = [1_000_000.0]
    clock = lambda: now[0]  # noqa: E731
    for _ in range(60):
        ratelimit.take("upload", "alice", clock=clock)
    with pytest.raises(RateLimited) as limited:
        ratelimit.take("upload", "alice", clock=clock)
    assert limited.value.retry_after == 1
    assert "60 uploads per minute" in str(limited.value.detail)
    ratelimit.take("upload", "bob", clock=clock)  # another owner has a bucket of its own
    ratelimit.take("export", "alice", clock=clock)  # and so has another scope
    now[0] += 2.0
    ratelimit.take("upload", "alice", 2, clock=clock)
    with pytest.raises(RateLimited) as refused:
        ratelimit.take("upload", "alice", 5, clock=clock)
    assert refused.value.retry_after == 5
    with pytest.raises(RateLimited) as too_many:
        ratelimit.take("upload", "alice", 61, clock=clock)
    assert too_many.value.retry_after == 60


def test_a_refused_request_spends_nothing(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, submit_rate_per_minute="4")
    now = [2_000_000.0]
    ratelimit.take("submit", "alice", 3, clock=lambda: now[0])
    for _ in range(5):  # each refused: a sweep of 3 does not fit into the 1 left
        with pytest.raises(RateLimited):
            ratelimit.take("submit", "alice", 3, clock=lambda: now[0])
    ratelimit.take("submit", "alice", 1, clock=lambda: now[0])


def test_zero_turns_a_limit_off(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, predict_rate_per_minute="0")
    for _ in range(50):
        ratelimit.take("predict", "alice")


def test_full_buckets_are_pruned(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, render_rate_per_minute="10")
    monkeypatch.setattr(ratelimit, "_last_prune", [0.0])
    ratelimit.take("render", "old", clock=lambda: 3_000_000.0)  # prunes (first call)
    ratelimit.take("render", "new", clock=lambda: 3_000_001.0)  # not a minute later
    ratelimit.take("render", "later", clock=lambda: 3_000_100.0)  # prunes: old and new full
    with session_factory() as session:
        keys = set(session.scalars(select(RateLimit.key)))
    assert keys == {"render:later"}


def test_concurrent_requests_share_one_bucket(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, export_rate_per_minute="20")
    outcomes = at_once(THREADS, lambda _: ratelimit.take("export", "alice"))
    accepted = [o for o in outcomes if o is None]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert (len(accepted), len(refused)) == (20, 20), outcomes


def test_concurrent_submits_never_pass_the_run_limit(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, max_concurrent_runs="20")

    def submit(_: int) -> str:
        with session_factory() as session:
            check_capacity(session=session, owner="alice", n=1)
            run_id = insert_run(session, owner="alice")
            session.commit()
            return run_id

    outcomes = at_once(THREADS, submit)
    accepted = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert (len(accepted), len(refused)) == (20, 20), outcomes
    with session_factory() as session:
        stored = session.scalar(text("SELECT count(*) FROM run WHERE owner = 'alice'"))
    assert stored == 20


def test_stored_bytes_quota_counts_every_run_of_the_owner(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    knobs(monkeypatch, max_owner_stored_bytes="1000")
    with session_factory() as session:
        insert_run(session, owner="alice", stored_bytes=600, status="succeeded")
        insert_run(session, owner="bob", stored_bytes=900)
        session.commit()
        check_capacity(session=session, owner="alice", n=1, stored_bytes=400)
        session.rollback()
        with pytest.raises(InvalidInput) as refused:
            check_capacity(session=session, owner="alice", n=1, stored_bytes=401)
        session.rollback()
    error = refused.value.detail[0]  # type: ignore[index]
    assert error["loc"] == ["body", "hyperparameters"]
    assert "max_owner_stored_bytes" in error["msg"] and "600 of 1000" in error["msg"]
    assert "401" in error["msg"]


def test_dataset_quota_refuses_before_storing(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    columns = {"x": list(range(2000)), "y": [v * 0.5 for v in range(2000)]}
    with session_factory() as session:
        first, _ = datasets.create_from_json(
            session=session, owner="alice", name="a", columns=columns, idempotency_key=None
        )
    size = first.size_bytes
    assert size == len(first.content) > 0
    knobs(monkeypatch, max_owner_dataset_bytes=str(2 * size + size // 2))
    with session_factory() as session:
        datasets.create_from_json(
            session=session,
            owner="alice",
            name="b",
            columns=columns,
            idempotency_key=None,
            dedupe=False,  # the same file again: stored again, not deduplicated
        )
        with pytest.raises(TooLarge) as refused:
            datasets.create_from_json(
                session=session,
                owner="alice",
                name="c",
                columns=columns,
                idempotency_key=None,
                dedupe=False,
            )
        session.rollback()
        assert "max_owner_dataset_bytes" in str(refused.value.detail)
        assert f"use {2 * size} of {2 * size + size // 2} bytes" in str(refused.value.detail)
        # Another owner's room is its own.
        datasets.create_from_json(
            session=session, owner="bob", name="c", columns=columns, idempotency_key=None
        )
        names = session.scalars(select(Dataset.name).where(Dataset.owner == "alice")).all()
    assert sorted(names) == ["a", "b"]


def test_csv_export_streams_in_blocks(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(datasets, "CSV_BLOCK_ROWS", 7)
    columns = {"x": np.arange(20.0), "label": np.array([f"r{i}" for i in range(20)])}
    with session_factory() as session:
        dataset, _ = datasets.create_from_json(
            session=session, owner="alice", name="a", columns=columns, idempotency_key=None
        )
        chunks = list(datasets.csv_chunks(session=session, dataset_id=dataset.id, owner="alice"))
    assert len(chunks) == 1 + 3  # the header, then 7 + 7 + 6 rows
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0] == "x,label" and lines[1] == "0,r0" and lines[-1] == "19,r19"
    assert len(lines) == 21


def test_migration_counts_the_bytes_of_existing_datasets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO dataset (id, owner, name, n_rows, columns, sha256, content, "
                    "created_at) VALUES ('d', 'o', 'n', 1, '[]', 's', :content, '2026-01-01')"
                ),
                {"content": b"\x00" * 1234},
            )
        command.upgrade(alembic_config(url), "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT size_bytes FROM dataset")).scalar() == 1234
    finally:
        engine.dispose()
