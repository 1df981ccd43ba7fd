"""No input makes a reader raise, and no input makes one hold much memory.

Random bytes, mutated and truncated real fixtures, in random splits, go through every
route's reader under every framing; 50 MB of garbage goes through one at a time while
the reader's memory is traced.
"""

from __future__ import annotations

import itertools
import logging
import random
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtap.event import CallStatus
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
)
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import Exchange, fixture_paths, load_path

ROUTES = list(default_registry().routes)
FIXTURES = [load_path(p) for p in fixture_paths()]
HEADS = [
    ResponseHead(200, {"content-type": "text/event-stream"}),
    ResponseHead(200, {"content-type": "application/json"}),
    ResponseHead(200, {}),
    ResponseHead(529, {"content-type": "application/json"}),
]
REQUEST_BODIES = [b"", b'{"model": "m", "stream": true}', b'{"stream": 1}', b"\xff{"]

#: Pieces that make random input look like the wire, so the parsers get past JSON.
FRAGMENTS = [
    b"data: ",
    b"event: error\n",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"[DONE]",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"true",
    b"1e400",
    b'"x"',
    b'"type"',
    b'"message_start"',
    b'"message_delta"',
    b'"message_stop"',
    b'"response.completed"',
    b'"response.output_item.done"',
    b'"usage"',
    b'"message"',
    b'"response"',
    b'"iterations"',
    b'"cache_creation"',
    b'"input_tokens"',
    b'"prompt_tokens_details"',
    b'"choices"',
    b'"delta"',
    b'"error"',
    b'"output"',
]
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

wire_like = st.lists(st.sampled_from(FRAGMENTS), max_size=80).map(b"".join)
bodies = st.one_of(st.binary(max_size=2000), wire_like)


class _Faults(logging.Handler):
    """Counts the fault path of the readers (a broad catch that costs the usage)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "providers.reader.failed" in record.getMessage()


@contextmanager
def _no_faults() -> Iterator[None]:
    handler = _Faults()
    logger = logging.getLogger("spendtap.providers")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert handler.count == 0, "a parser raised and was caught: handle that input"


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _run(reader: ResponseReader, chunks: list[bytes], complete: bool) -> ParsedCall:
    for chunk in chunks:
        reader.feed(chunk)
        assert reader.content_started in (True, False)
    call = reader.finish(complete=complete)
    assert isinstance(call, ParsedCall)
    return call


@SETTINGS
@given(
    route=st.sampled_from(ROUTES),
    head=st.sampled_from(HEADS),
    request_body=st.sampled_from(REQUEST_BODIES),
    body=bodies,
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    complete=st.booleans(),
)
def test_random_bytes_never_make_a_reader_raise(
    route: object,
    head: ResponseHead,
    request_body: bytes,
    body: bytes,
    cuts: list[int],
    complete: bool,
) -> None:
    assert hasattr(route, "reader")
    request = RequestInfo("POST", "api.example", "/", body=request_body)
    with _no_faults():
        _run(route.reader(request, head), _split(body, cuts), complete)


@SETTINGS
@given(
    exchange=st.sampled_from(FIXTURES),
    keep=st.floats(min_value=0, max_value=1),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
    complete=st.booleans(),
)
def test_truncated_fixtures_in_random_splits_never_raise(
    exchange: Exchange, keep: float, cuts: list[int], complete: bool
) -> None:
    body = exchange.body[: int(len(exchange.body) * keep)]

    with _no_faults():
        _run(exchange.reader(), _split(body, cuts), complete)


@SETTINGS
@given(
    exchange=st.sampled_from(FIXTURES),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(FRAGMENTS)), max_size=6
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_mutated_fixtures_never_raise(
    exchange: Exchange, edits: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    body = exchange.body
    for position, fragment in edits:
        at = position % (len(body) + 1)
        body = body[:at] + fragment + body[at + len(fragment) :]

    with _no_faults():
        _run(exchange.reader(), _split(body, cuts), True)


ENDED_STREAMS = [
    (e, terminal)
    for e in FIXTURES
    for terminal in (b"event: message_stop", b"event: response.completed")
    if terminal in e.body
]


@SETTINGS
@given(case=st.sampled_from(ENDED_STREAMS), data=st.data())
def test_a_stream_cut_before_its_terminal_event_is_never_ok(
    case: tuple[Exchange, bytes], data: st.DataObject
) -> None:
    exchange, terminal = case
    end_of_terminal = exchange.body.index(b"\n\n", exchange.body.index(terminal))
    cut = data.draw(st.integers(min_value=0, max_value=end_of_terminal))

    call = _run(exchange.reader(), [exchange.body[:cut]], complete=False)

    assert call.status is not CallStatus.OK


GARBAGE_MB = 50
CHUNK = 64 * 1024
_rng = random.Random(20251204)
GARBAGE = {
    "random bytes": [_rng.randbytes(CHUNK) for _ in range(8)],
    "one endless line": [b"x" * CHUNK],
    "one endless event": [(b"data: " + b"y" * 1000 + b"\n") * (CHUNK // 1007)],
    "endless JSON": [b'{"usage": {"input_tokens": 1, "x": [' + b"1," * (CHUNK // 2)],
}


@pytest.mark.parametrize(
    ("fixture", "garbage"),
    [
        ("anthropic_messages/c02_cache_read_stream", "random bytes"),
        ("openai_chat/c04_stream_usage_chunk", "one endless line"),
        ("openai_responses/stream_completed", "one endless event"),
        ("openai_chat/c03_cached_prompt", "endless JSON"),
        ("anthropic_messages/c01_cache_write_non_stream", "random bytes"),
    ],
)
def test_50_mb_of_garbage_leaves_reader_state_small(fixture: str, garbage: str) -> None:
    exchange = next(e for e in FIXTURES if e.name == fixture)
    pieces = GARBAGE[garbage]
    tracemalloc.start()
    try:
        reader = exchange.reader()
        baseline, _ = tracemalloc.get_traced_memory()
        fed = 0
        while fed < GARBAGE_MB * 1024 * 1024:
            piece = pieces[fed // CHUNK % len(pieces)]
            reader.feed(piece)
            fed += len(piece)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert held - baseline < 1024 * 1024, f"reader holds {held - baseline} bytes"
    assert isinstance(reader.finish(complete=False), ParsedCall)
