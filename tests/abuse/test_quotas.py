"""Issue 13 items 5 (uploads, exports) and 8: quotas and shared limits against a real server.

8. 40 concurrent submits with max_concurrent_runs 20: exactly 20 runs, however many API
   processes take them (the owner is locked while counting); the rate limits live in the
   database, so a `--workers 2` API and another API on the same database share them.
5. Uploads and data.csv exports are rate limited per owner (429 + Retry-After); stored
   dataset bytes and the runs' estimated history bytes have per-owner quotas (413 / 422)
   refused before anything is stored; data.csv streams in blocks.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from tests.abuse.conftest import client_for
from tests.abuse.health import HealthWatch
from tests.api.helpers import MOVIES_RUN
from tests.faults.servers import ApiServer
from tests.faults.stack import Stack

RUN_LIMIT = 20
SUBMITS = 40
UPLOADS_PER_MINUTE = 5
EXPORTS_PER_MINUTE = 6
DATASET_QUOTA = 300_000  # stored (compressed) bytes of one owner's datasets
STORED_QUOTA = 300_000  # estimated history bytes of one owner's runs
API_KNOBS = {
    "max_concurrent_runs": str(RUN_LIMIT),
    "submit_rate_per_minute": "600",
    "upload_rate_per_minute": str(UPLOADS_PER_MINUTE),
    "export_rate_per_minute": str(EXPORTS_PER_MINUTE),
    "max_owner_dataset_bytes": str(DATASET_QUOTA),
    "max_owner_stored_bytes": str(STORED_QUOTA),
}
# A short course regression: ~300 bytes of history per epoch estimated, no worker runs it.
RUN = {**MOVIES_RUN, "hyperparameters": {"learning_rate": 1e-9, "epochs": 10}}


@pytest.fixture(scope="module")
def two_workers(abuse_stack: Stack) -> Iterator[ApiServer]:
    """A second API, `--workers 2`, on the same database: three API processes in all."""
    env = abuse_stack.env(**API_KNOBS)
    server = ApiServer(env, abuse_stack.tmp / "api-2-workers.log", workers=2).start()
    try:
        yield server
    finally:
        server.stop()


def at_once(n: int, request: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Send request(i) for i < n from n threads released together."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait(timeout=60)
        return request(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def clients(stack: Stack, server: ApiServer, owner: str) -> list[httpx.Client]:
    """Return one client of `owner` on the module's API and one on the two-worker API."""
    first = client_for(stack, owner)
    second = httpx.Client(base_url=server.url, timeout=60.0, headers=dict(first.headers))
    return [first, second]


def csv_bytes(rows: int, seed: int) -> bytes:
    """Return a CSV of `rows` random (x, y) rows: floats that barely compress."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    np.savetxt(out, rng.normal(size=(rows, 2)), delimiter=",", header="x,y", comments="")
    return out.getvalue().encode()


def upload(client: httpx.Client, data: bytes, name: str) -> httpx.Response:
    """Upload a CSV file as multipart (a new dataset each time, even for the same contents)."""
    return client.post(
        "/v1/datasets",
        params={"dedupe": "false"},
        files={"file": (f"{name}.csv", data, "text/csv")},
    )


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    """Count the responses by status code."""
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


def test_concurrent_submits_stop_exactly_at_the_run_limit(
    abuse_stack: Stack, two_workers: ApiServer
) -> None:
    pair = clients(abuse_stack, two_workers, "racer")
    with HealthWatch(abuse_stack.api.url) as watch:  # type: ignore[union-attr]
        # A third to the one-process API, two thirds to the two-process one: ~13 each.
        responses = at_once(SUBMITS, lambda i: pair[min(i % 3, 1)].post("/v1/runs", json=RUN))
    assert statuses(responses) == {202: RUN_LIMIT, 429: SUBMITS - RUN_LIMIT}, [
        r.text for r in responses if r.status_code not in (202, 429)
    ]
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert f"the limit is {RUN_LIMIT} per owner" in refused.json()["detail"]
    queued = pair[0].get("/v1/runs", params={"status": "queued", "limit": 500}).json()["items"]
    assert len(queued) == RUN_LIMIT  # what the database holds, not only what was answered
    watch.assert_healthy()


def test_rate_limits_are_shared_by_every_api_process(
    abuse_stack: Stack, two_workers: ApiServer
) -> None:
    pair = clients(abuse_stack, two_workers, "exporter")
    dataset = upload(pair[0], csv_bytes(50, seed=1), "small")
    assert dataset.status_code == 201, dataset.text
    path = f"/v1/datasets/{dataset.json()['id']}/data.csv"
    # Per process, three processes would have allowed 3 x 6 exports.
    responses = at_once(20, lambda i: pair[i % 2].get(path))
    assert statuses(responses) == {200: EXPORTS_PER_MINUTE, 429: 20 - EXPORTS_PER_MINUTE}
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert f"more than {EXPORTS_PER_MINUTE} exports per minute" in refused.json()["detail"]


def test_uploads_are_rate_limited_before_the_body_is_read(abuse_stack: Stack) -> None:
    client = client_for(abuse_stack, "uploader")
    data = csv_bytes(20, seed=2)
    with HealthWatch(abuse_stack.api.url) as watch:
        codes = [upload(client, data, f"u{i}").status_code for i in range(UPLOADS_PER_MINUTE)]
        # The refusal comes from the dependency, before the route reads the (big) body.
        refused = upload(client, b"x,y\n" + b"1,2\n" * 50_000, "big")
    assert codes == [201] * UPLOADS_PER_MINUTE
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "uploads per minute" in refused.json()["detail"]
    watch.assert_healthy()


def test_dataset_quota_refuses_an_upload_before_storing_it(abuse_stack: Stack) -> None:
    client = client_for(abuse_stack, "hoarder")
    data = csv_bytes(6000, seed=3)  # about 90 KB once stored: three fit
    with HealthWatch(abuse_stack.api.url) as watch:
        stored = []
        while (response := upload(client, data, f"d{len(stored)}")).status_code == 201:
            stored.append(response.json()["id"])
            assert len(stored) < UPLOADS_PER_MINUTE, "the quota never refused"
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "max_owner_dataset_bytes" in detail and f"of {DATASET_QUOTA} bytes" in detail
    listed = client.get("/v1/datasets", params={"limit": 500}).json()["items"]
    assert sorted(d["id"] for d in listed) == sorted(stored)  # nothing of the refused one
    # Deleting frees the room again.
    assert client.delete(f"/v1/datasets/{stored[0]}").status_code == 204
    assert upload(client, data, "again").status_code == 201
    watch.assert_healthy()


def test_data_csv_streams_in_blocks(abuse_stack: Stack) -> None:
    client = client_for(abuse_stack, "streamer")
    data = csv_bytes(15_000, seed=4)  # more than one block of 10,000 rows
    dataset = upload(client, data, "blocks")
    assert dataset.status_code == 201, dataset.text
    response = client.get(f"/v1/datasets/{dataset.json()['id']}/data.csv")
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.headers
    back = np.loadtxt(io.StringIO(response.text), delimiter=",", skiprows=1)
    sent = np.loadtxt(io.StringIO(data.decode()), delimiter=",", skiprows=1)
    np.testing.assert_array_equal(back, sent)


def test_stored_bytes_quota_refuses_a_run_at_submit(abuse_stack: Stack) -> None:
    client = client_for(abuse_stack, "keeper")
    body: dict[str, Any] = {**RUN, "hyperparameters": {**RUN["hyperparameters"], "epochs": 400}}
    accepted = []
    while (response := client.post("/v1/runs", json=body)).status_code == 202:
        accepted.append(response.json())
        assert len(accepted) < RUN_LIMIT, "the stored-bytes quota never refused"
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "hyperparameters"]
    assert "max_owner_stored_bytes" in error["msg"] and f"of {STORED_QUOTA} bytes" in error["msg"]
    assert accepted  # the quota held some runs before it was full
