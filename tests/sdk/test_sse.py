"""The SSE decoder: fields, multi-line data, comments, ids."""

from __future__ import annotations

from descent._base import Event, SSEDecoder


def decode(text: str) -> list[Event]:
    decoder = SSEDecoder()
    events = [decoder.feed(line) for line in text.split("\n")]
    return [e for e in events if e is not None]


def test_events_with_ids_and_json() -> None:
    text = (
        'event: epoch\nid: 3\ndata: {"epoch": 3}\n\nevent: status\ndata: {"status": "running"}\n\n'
    )
    assert decode(text) == [
        Event("epoch", {"epoch": 3}, "3"),
        Event("status", {"status": "running"}, None),
    ]


def test_comments_pings_and_retry_are_skipped() -> None:
    text = ": ping - 2026-11-28\nretry: 1000\n\n: another\n\ndata:plain text\n\n"
    assert decode(text) == [Event("message", "plain text", None)]


def test_multi_line_data_is_joined() -> None:
    assert decode("data: [1,\ndata: 2]\n\n") == [Event("message", [1, 2], None)]
