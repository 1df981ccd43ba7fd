"""The JSON Lines splitter: any split, bounded memory, over-long lines dropped."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from spendtap.providers.jsonl import JsonLinesDecoder

LINES = [b'{"a": 1}', b'{"b": "two"}', b"[3]"]


def _decode(chunks: list[bytes], max_line: int = 1024) -> list[bytes]:
    decoder = JsonLinesDecoder(max_line)
    lines = [line for chunk in chunks for line in decoder.feed(chunk)]
    return lines + decoder.flush()


def test_lines_come_out_without_their_line_ends_and_blank_lines_are_skipped() -> None:
    body = b'{"a": 1}\r\n\n{"b": "two"}\n  \n[3]'

    assert _decode([body]) == LINES


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=10))
def test_any_split_gives_the_same_lines(cuts: list[int]) -> None:
    body = b"\n".join(LINES) + b"\n"
    bounds = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]

    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]

    assert _decode(chunks) == LINES


def test_an_over_long_line_is_dropped_whole_and_the_next_survives() -> None:
    decoder = JsonLinesDecoder(max_line=10)

    lines = decoder.feed(b'{"x": "' + b"y" * 20)
    lines += decoder.feed(b'"}\n{"ok": 1}\n')

    assert lines == [b'{"ok": 1}']
    assert decoder.dropped == 1


def test_an_over_long_line_in_one_piece_is_dropped() -> None:
    decoder = JsonLinesDecoder(max_line=10)

    assert decoder.feed(b"z" * 50 + b"\n[1]\n") == [b"[1]"]
    assert decoder.flush() == []


def test_an_over_long_last_line_without_an_end_is_dropped() -> None:
    decoder = JsonLinesDecoder(max_line=10)
    decoder.feed(b"z" * 50)

    assert decoder.flush() == []
