"""The incremental splitter of a streamed JSON array, and its reader."""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import ParsedCall
from spendtap.providers.json_array import JsonArrayReader, JsonArraySplitter


def _split(*chunks: bytes, max_element: int = 1024) -> tuple[list[Any], bool]:
    splitter = JsonArraySplitter(max_element)
    elements = [e for chunk in chunks for e in splitter.feed(chunk)]
    return [json.loads(e) for e in elements], splitter.closed


def test_each_element_comes_out_when_it_closes() -> None:
    splitter = JsonArraySplitter()

    assert splitter.feed(b'[{"a": 1}\r\n,\r\n{"b"') == [b'{"a": 1}']
    assert splitter.feed(b": [2, {}]}") == [b'{"b": [2, {}]}']
    assert splitter.closed is False
    assert splitter.feed(b"\r\n]") == []
    assert splitter.closed is True


def test_brackets_and_escaped_quotes_inside_strings_are_text() -> None:
    body = rb'[{"t": "a]}\"{[b", "u": "c\\"}, {"v": "\\\""}]'

    assert _split(body) == ([{"t": 'a]}"{[b', "u": "c\\"}, {"v": '\\"'}], True)


def test_an_escape_split_across_reads_is_kept() -> None:
    assert _split(b'[{"t": "x\\', b'"]"}]') == ([{"t": 'x"]'}], True)


def test_a_single_object_body_is_its_only_element() -> None:
    assert _split(b' {"error": {"code": 429}} trailing') == (
        [{"error": {"code": 429}}],
        True,
    )


def test_nested_arrays_stay_inside_their_element() -> None:
    assert _split(b"[[1, [2]], [3]]") == ([[1, [2]], [3]], True)


def test_top_level_scalars_are_skipped() -> None:
    assert _split(b'[1, "x]", {"a": 2}, true]') == ([{"a": 2}], True)


def test_an_element_over_the_limit_is_skipped_whole() -> None:
    big = b'{"x": "' + b"y" * 2000 + b'"}'

    assert _split(b"[" + big + b',{"k": 1}]', max_element=100) == ([{"k": 1}], True)


def test_nothing_after_the_close_is_read() -> None:
    assert _split(b'[{"a": 1}] [{"b": 2}]') == ([{"a": 1}], True)


def test_stray_closing_brackets_are_ignored() -> None:
    assert _split(b']}[{"a": 1}]') == ([{"a": 1}], True)


elements = st.lists(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
    max_size=6,
)


@given(values=elements, cuts=st.lists(st.integers(min_value=0), max_size=20))
@settings(max_examples=200, deadline=None, database=None)
def test_any_array_in_any_split_gives_its_elements(
    values: list[dict[str, Any]], cuts: list[int]
) -> None:
    body = json.dumps(values, indent=1).encode()
    bounds = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]

    assert _split(*chunks, max_element=1 << 20) == (values, True)


@given(data=st.binary(max_size=2000))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bytes_never_raise(data: bytes) -> None:
    splitter = JsonArraySplitter(max_element=256)

    for element in splitter.feed(data):
        assert len(element) <= 256


def test_one_byte_at_a_time_is_linear() -> None:
    body = b'[{"t": "' + b'z\\"' * 200_000 + b'"}]'
    splitter = JsonArraySplitter()
    started = time.perf_counter()

    found = [e for i in range(len(body)) for e in splitter.feed(body[i : i + 1])]

    assert len(found) == 1 and splitter.closed
    assert time.perf_counter() - started < 5.0


_TEMPLATE = ParsedCall(
    provider="gcp.gemini",
    api=Api.GENERATE_CONTENT,
    streaming=True,
    status=CallStatus.OK,
    usage=Usage(),
    usage_source=UsageSource.ABSENT,
)


class _Recording:
    def __init__(self, *, explode: bool = False) -> None:
        self.elements: list[dict[str, Any]] = []
        self.closed = False
        self._explode = explode

    @property
    def content_started(self) -> bool:
        return bool(self.elements)

    def on_element(self, element: dict[str, Any]) -> None:
        if self._explode:
            raise ValueError("boom")
        self.elements.append(element)

    def on_close(self) -> None:
        self.closed = True

    def result(self, *, complete: bool) -> ParsedCall:
        return _TEMPLATE


def test_the_reader_hands_objects_to_the_parser_and_says_when_the_array_closed() -> (
    None
):
    parser = _Recording()
    reader = JsonArrayReader(_TEMPLATE, parser)

    reader.feed(b'[{"a": 1}, 7, [3], {"b": 2}')
    before = parser.closed
    reader.feed(b"]")

    assert parser.elements == [{"a": 1}, {"b": 2}]
    assert (before, parser.closed) == (False, True)
    assert reader.content_started is True
    assert reader.finish(complete=True) is _TEMPLATE


def test_a_parser_fault_costs_the_usage_not_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = JsonArrayReader(_TEMPLATE, _Recording(explode=True))

    with caplog.at_level(logging.WARNING):
        reader.feed(b'[{"a": 1}]')
        call = reader.finish(complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert (
        "providers.reader.failed api=generate_content error=ValueError" in caplog.text
    )


def test_an_element_outgrowing_the_limit_across_reads_is_skipped() -> None:
    chunks = [b'[{"x": "', *([b"y" * 60] * 5), b'"}, {"k": 2}]']

    assert _split(*chunks, max_element=100) == ([{"k": 2}], True)


class _FailingResult(_Recording):
    def result(self, *, complete: bool) -> ParsedCall:
        raise ValueError("boom")


def test_a_fault_in_the_result_keeps_an_error_an_error() -> None:
    template = ParsedCall(
        provider="gcp.gemini",
        api=Api.GENERATE_CONTENT,
        streaming=True,
        status=CallStatus.ERROR,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
    )
    reader = JsonArrayReader(template, _FailingResult())

    assert reader.finish(complete=True).status is CallStatus.ERROR


def test_after_a_fault_the_reader_reads_no_more() -> None:
    parser = _Recording(explode=True)
    reader = JsonArrayReader(_TEMPLATE, parser)
    reader.feed(b'[{"a": 1},')

    reader.feed(b'{"b": 2}]')

    assert (parser.elements, parser.closed) == ([], False)
