"""Concurrent submits: one Idempotency-Key → one run, whatever the interleaving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.helpers import MOVIES_RUN


def test_fifty_concurrent_submits_with_one_key_make_one_run(api) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.a, "Idempotency-Key": "one-key"}

    def submit(_: int):  # type: ignore[no-untyped-def]
        return api.client.post("/v1/runs", json=MOVIES_RUN, headers=headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(submit, range(50)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 202}, [r.text for r in responses if r.status_code >= 300][:3]
    assert codes.count(202) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(api.client.get("/v1/runs", headers=api.a).json()["items"]) == 1
    assert len(api.enqueued) == 1


def test_concurrent_submits_without_key_all_succeed(api) -> None:  # type: ignore[no-untyped-def]
    def submit(_: int):  # type: ignore[no-untyped-def]
        return api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a)

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = [r.status_code for r in pool.map(submit, range(10))]
    assert codes == [202] * 10
    assert len(api.client.get("/v1/runs", headers=api.a).json()["items"]) == 10
