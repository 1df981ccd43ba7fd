"""No input makes the readers of issue 3's formats raise, hang or hold much memory.

The same checks as ``test_reader_robustness`` (which also sweeps these routes with its
own inputs), with inputs shaped like these formats: WebSocket sessions (status 101),
JSON Lines result files, web chat patch streams, compatible hosts' usage fields.
"""

from __future__ import annotations

import itertools
import logging
import random
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import (
    FIXTURES,
    Exchange,
    load_path,
    one_byte_at_a_time,
    parse,
)

FORMATS = (
    "azure_openai",
    "openai_compatible",
    "openai_embeddings",
    "openai_batch",
    "openai_realtime",
    "anthropic_batches",
    "web_chat",
)
PATHS = sorted(p for f in FORMATS for p in (FIXTURES / f).glob("*.yaml"))
EXCHANGES = [load_path(p) for p in PATHS]
#: One request per route of these formats, so each route's reader is fuzzed.
REQUESTS = {
    (e.request.host, e.request.path.split("?")[0], e.request.method): e.request
    for e in EXCHANGES
}
ROUTES: list[tuple[Route, RequestInfo]] = [
    (route, request)
    for request in REQUESTS.values()
    if (route := default_registry().route(request)) is not None
]
HEADS = [
    ResponseHead(101, {"upgrade": "websocket"}),
    ResponseHead(200, {"content-type": "text/event-stream"}),
    ResponseHead(200, {"content-type": "application/json"}),
    ResponseHead(200, {"content-type": "application/octet-stream"}),
    ResponseHead(200, {}),
    ResponseHead(500, {"content-type": "application/json"}),
]
FRAGMENTS = [
    b"data: ",
    b"event: error\n",
    b"event: delta\n",
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
    b"-0.5",
    b"true",
    b"1e400",
    b'"x"',
    b'"\\u00e9"',
    b'"usage"',
    b'"x_groq"',
    b'"prompt_cache_hit_tokens"',
    b'"cost"',
    b'"is_byok"',
    b'"cost_details"',
    b'"upstream_inference_cost"',
    b'"server_tool_use_details"',
    b'"total_tokens"',
    b'"completion_tokens_details"',
    b'"reasoning_tokens"',
    b'"prompt_tokens"',
    b'"model"',
    b'"choices"',
    b'"error"',
    b'"type"',
    b'"response.done"',
    b'"response.created"',
    b'"session.created"',
    b'"response.completed"',
    b'"response"',
    b'"input_token_details"',
    b'"custom_id"',
    b'"result"',
    b'"succeeded"',
    b'"status_code"',
    b'"body"',
    b'"object"',
    b'"chat.completion"',
    b'"message"',
    b'"message_start"',
    b'"content_block_delta"',
    b'"text_delta"',
    b'"thinking_delta"',
    b'"message_stop"',
    b'"p"',
    b'"o"',
    b'"v"',
    b'"add"',
    b'"append"',
    b'"patch"',
    b'"author"',
    b'"role"',
    b'"assistant"',
    b'"/message/content/parts/0"',
    b'"parts"',
    b'"metadata"',
    b'"message_stream_complete"',
]
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

wire_like = st.lists(st.sampled_from(FRAGMENTS), max_size=100).map(b"".join)
bodies = st.one_of(st.binary(max_size=2000), wire_like)


class _Faults(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "providers.reader.failed" in record.getMessage()


@contextmanager
def _no_faults() -> Iterator[None]:
    """A reader that raised and was caught by its own boundary is a failure too."""
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


def test_every_route_of_these_formats_has_a_fixture() -> None:
    names = {route.name for route, _ in ROUTES}

    assert {
        "azure_openai.chat_completions",
        "azure_openai.responses",
        "azure_openai.embeddings",
        "azure_openai.realtime",
        "openrouter.chat_completions",
        "openrouter.responses",
        "groq.chat_completions",
        "deepseek.chat_completions",
        "x_ai.chat_completions",
        "mistral_ai.chat_completions",
        "openai.embeddings",
        "openai.batches",
        "openai.files.content",
        "openai.realtime",
        "anthropic.message_batches",
        "anthropic.message_batches.results",
        "claude_ai.web_chat",
        "chatgpt.web_chat",
    } <= names


@SETTINGS
@given(
    case=st.sampled_from(ROUTES),
    head=st.sampled_from(HEADS),
    body=bodies,
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    complete=st.booleans(),
)
def test_random_bytes_never_make_these_readers_raise(
    case: tuple[Route, RequestInfo],
    head: ResponseHead,
    body: bytes,
    cuts: list[int],
    complete: bool,
) -> None:
    route, request = case
    with _no_faults():
        _run(route.reader(request, head), _split(body, cuts), complete)


@SETTINGS
@given(
    case=st.sampled_from(ROUTES),
    request_body=st.one_of(st.binary(max_size=300), wire_like),
    head=st.sampled_from(HEADS),
)
def test_odd_request_bodies_never_make_these_readers_raise(
    case: tuple[Route, RequestInfo], request_body: bytes, head: ResponseHead
) -> None:
    route, request = case
    odd = RequestInfo(request.method, request.host, request.path, body=request_body)
    with _no_faults():
        _run(route.reader(odd, head), [b"{}", b"\n"], True)


@SETTINGS
@given(
    exchange=st.sampled_from(EXCHANGES),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(FRAGMENTS)), max_size=6
    ),
    keep=st.floats(min_value=0, max_value=1),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
    complete=st.booleans(),
)
def test_mutated_and_truncated_fixtures_never_raise(
    exchange: Exchange,
    edits: list[tuple[int, bytes]],
    keep: float,
    cuts: list[int],
    complete: bool,
) -> None:
    body = exchange.body
    for position, fragment in edits:
        at = position % (len(body) + 1)
        body = body[:at] + fragment + body[at + len(fragment) :]
    body = body[: int(len(body) * keep)]

    with _no_faults():
        _run(exchange.reader(), _split(body, cuts), complete)


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_one_byte_at_a_time_gives_the_same_call(path: Path) -> None:
    exchange = load_path(path)

    assert parse(exchange, one_byte_at_a_time(exchange.body)) == parse(exchange)


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_crlf_line_ends_give_the_same_call(path: Path) -> None:
    exchange = load_path(path)
    crlf = exchange.body.replace(b"\n", b"\r\n")

    assert parse(exchange, [crlf]) == parse(exchange)


GARBAGE_MB = 50
CHUNK = 64 * 1024
_rng = random.Random(20251214)
GARBAGE = {
    "random bytes": [_rng.randbytes(CHUNK) for _ in range(8)],
    "one endless line": [b"x" * CHUNK],
    "one endless event": [(b"data: " + b"y" * 1000 + b"\n") * (CHUNK // 1007)],
    "endless JSON": [b'{"usage": {"prompt_tokens": 1, "x": [' + b"1," * (CHUNK // 2)],
    "endless patch": [b'data: {"v": "' + b"z" * (CHUNK - 14) + b'"}\n'],
}


@pytest.mark.parametrize(
    ("fixture", "garbage"),
    [
        ("openai_batch/output_file_chat", "one endless line"),
        ("anthropic_batches/results", "random bytes"),
        ("openai_realtime/session_two_responses", "one endless event"),
        ("web_chat/chatgpt_delta_v1", "endless patch"),
        ("web_chat/claude_ai_completion", "one endless event"),
        ("openai_compatible/groq_stream_x_groq_usage", "random bytes"),
        ("openai_embeddings/float_vectors", "endless JSON"),
        ("azure_openai/chat_v1_non_stream_reasoning", "endless JSON"),
    ],
)
def test_50_mb_of_garbage_leaves_reader_state_small(fixture: str, garbage: str) -> None:
    exchange = next(e for e in EXCHANGES if e.name == fixture)
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
