"""The incremental server-sent events decoder."""

from __future__ import annotations

import time

from spendtap.providers.sse import ServerSentEvent, SSEDecoder


def _decode(*chunks: bytes, max_line: int = 1024) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_line=max_line)
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_an_event_is_dispatched_at_the_blank_line() -> None:
    decoder = SSEDecoder()

    assert decoder.feed(b"event: ping\ndata: {}\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("ping", "{}")]


def test_event_name_defaults_to_message() -> None:
    assert _decode(b"data: [DONE]\n\n") == [ServerSentEvent("message", "[DONE]")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert _decode(b"data: a\ndata:b\n\n") == [ServerSentEvent("message", "a\nb")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = _decode(b": keep-alive\nid: 7\nretry: 10\ndata: x\n\n")

    assert events == [ServerSentEvent("message", "x")]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert _decode(b"event: ping\n\ndata: y\n\n") == [ServerSentEvent("message", "y")]


def test_cr_crlf_and_lf_line_ends_all_work() -> None:
    expected = [ServerSentEvent("e", "1"), ServerSentEvent("e", "2")]

    assert _decode(b"event: e\rdata: 1\r\revent: e\r\ndata: 2\r\n\r\n") == expected


def test_crlf_split_across_reads_is_one_line_end() -> None:
    events = _decode(b"data: 1\r", b"\n", b"data: 2\r", b"\n\r", b"\n")

    assert events == [ServerSentEvent("message", "1\n2")]


def test_an_empty_read_between_cr_and_lf_changes_nothing() -> None:
    events = _decode(b"data: 1\r", b"", b"\ndata: 2\n\n")

    assert events == [ServerSentEvent("message", "1\n2")]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert _decode(b"\xef\xbb\xbf", b"data: z\n\n") == [ServerSentEvent("message", "z")]


def test_multibyte_characters_split_across_reads_survive() -> None:
    body = "data: café ☕\n\n".encode()

    assert _decode(*(body[i : i + 1] for i in range(len(body)))) == [
        ServerSentEvent("message", "café ☕")
    ]


def test_an_over_long_line_is_dropped_and_the_stream_recovers() -> None:
    events = _decode(
        b"data: " + b"x" * 600, b"y" * 600 + b"\n\n", b"data: ok\n\n", max_line=1000
    )

    assert events == [ServerSentEvent("message", "ok")]


def test_an_event_whose_data_outgrows_the_cap_is_dropped_whole() -> None:
    lines = b"data: " + b"x" * 90 + b"\n"

    events = _decode(lines * 20, b"\n", b"data: ok\n\n", max_line=1000)

    assert events == [ServerSentEvent("message", "ok")]


def test_flush_discards_an_unfinished_event() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: partial\n")

    assert decoder.flush() == []
    assert decoder.feed(b"\n") == []


def test_a_long_line_in_small_reads_costs_linear_time() -> None:
    decoder = SSEDecoder()
    line = b"data: " + b"a" * (4 * 1024 * 1024) + b"\n\n"
    started = time.perf_counter()

    events = [
        e for i in range(0, len(line), 256) for e in decoder.feed(line[i : i + 256])
    ]

    assert len(events) == 1 and len(events[0].data) == 4 * 1024 * 1024
    assert time.perf_counter() - started < 5  # quadratic copying took minutes
