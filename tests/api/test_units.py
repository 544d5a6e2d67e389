"""Pure pieces of the API layer: queue routing, token bucket, codec, CSV parsing, caches."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from descent_server.repository.pages import BadCursor, decode_cursor, encode_cursor
from descent_server.services import dataset_codec, kinds
from descent_server.services.errors import InvalidInput
from descent_server.services.plots import LRUCache, etag_matches
from descent_server.services.routing import route_queue
from descent_server.services.tabular import Limits, parse_csv

LIMITS = Limits(max_rows=1000, max_columns=10, max_field_length=50)


@pytest.mark.parametrize(
    ("device", "rows", "epochs", "gpu_workers", "queue"),
    [
        ("cpu", 10**6, 10**4, True, "cpu"),
        ("gpu", 10, 1, True, "gpu"),
        ("auto", 3000, 100, True, "gpu"),  # 300k samples
        ("auto", 3000, 20, True, "cpu"),  # 60k samples
        ("auto", 10**6, 10**4, False, "cpu"),
    ],
)
def test_route_queue(device, rows, epochs, gpu_workers, queue) -> None:  # type: ignore[no-untyped-def]
    routed = route_queue(
        device=device, n_rows=rows, epochs=epochs,
        gpu_workers=gpu_workers, gpu_min_samples=200_000,
    )  # fmt: skip
    assert routed == queue


@pytest.mark.parametrize("device", ["auto", "cpu", "gpu"])
def test_a_regression_always_trains_on_the_cpu(device: str) -> None:
    assert kinds.get("linear_regression").route(device=device, n_rows=10**6, epochs=10**6) == "cpu"


def test_route_queue_gpu_without_workers() -> None:
    with pytest.raises(InvalidInput) as error:
        route_queue(
            device="gpu", n_rows=1, epochs=1,
            gpu_workers=False, gpu_min_samples=1,
        )  # fmt: skip
    assert error.value.detail[0]["loc"] == ["body", "device"]  # type: ignore[index]


def test_codec_round_trip_keeps_order_types_and_odd_names() -> None:
    columns = {
        "zeta/é x": np.array([1.5, -2.0, 3.25]),
        "label": np.array(["a", "bé", "c"]),
        "0": np.array([1, 2, 3]),
    }
    decoded = dataset_codec.decode(dataset_codec.encode(columns))
    assert list(decoded) == list(columns)
    assert decoded["label"].tolist() == ["a", "bé", "c"]
    assert decoded["0"].dtype == np.float64
    assert dataset_codec.fingerprint(columns) == dataset_codec.fingerprint(decoded)
    changed = {**columns, "label": np.array(["a", "b", "c"])}
    assert dataset_codec.fingerprint(changed) != dataset_codec.fingerprint(columns)


def test_parse_csv_bom_crlf_quotes_blank_lines() -> None:
    data = '\ufeffx,"name, quoted"\r\n1,"a, b"\r\n\r\n2.5e3,c\r\n'.encode()
    columns = parse_csv(data, limits=LIMITS)
    assert list(columns) == ["x", "name, quoted"]
    assert columns["x"].tolist() == [1.0, 2500.0]
    assert columns["name, quoted"].tolist() == ["a, b", "c"]


def test_parse_csv_names_the_line_after_blank_lines() -> None:
    with pytest.raises(InvalidInput) as error:
        parse_csv(b"x,y\n1,2\n\n\n3,oops\n", limits=LIMITS)
    assert error.value.detail[0]["loc"] == ["file", "row 5", "column y"]  # type: ignore[index]


def test_cursor_round_trip_and_garbage() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, "abc")) == (when, "abc")
    for bad in ("", "!!", "bm90IGpzb24", encode_cursor(when, "x")[:-3]):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_lru_cache_and_etags() -> None:
    cache = LRUCache(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    small = LRUCache(10, max_bytes=5)
    small.put("a", b"123")
    small.put("b", b"456")
    assert small.get("a") is None and small.get("b") == b"456"
    assert etag_matches('"x"', 'W/"x", "y"') and etag_matches('"x"', "*")
    assert not etag_matches('"x"', '"y"') and not etag_matches('"x"', None)
