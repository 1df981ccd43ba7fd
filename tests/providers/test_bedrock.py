"""Bedrock: InvokeModel, Converse, their event streams, CountTokens (cases C06, M02)."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import random
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtap.errors import ConfigError
from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import ParsedCall, RequestInfo, ResponseHead
from spendtap.providers.bedrock_models import (
    configure_inference_profiles,
    inference_profiles,
    resolve_model_id,
)
from spendtap.providers.eventstream import MAX_MESSAGE_BYTES
from spendtap.providers.registry import default_registry
from tests.providers.aws_frames import encode_message, load_stream, stream_names
from tests.providers.exchanges import (
    Exchange,
    load,
    one_byte_at_a_time,
    parse,
    random_splits,
)

STREAMS = [load_stream(name) for name in stream_names()]
PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/mi1dadi0g15f"
)


@pytest.fixture
def profiles() -> Iterator[None]:
    before = dict(inference_profiles())
    yield
    configure_inference_profiles(before)


def _stream(name: str) -> Exchange:
    return next(e for e in STREAMS if e.name == f"bedrock/streams/{name}")


def _cut_before(exchange: Exchange, marker: bytes) -> bytes:
    """The body up to the start of the event-stream message holding ``marker``."""
    body, at = exchange.body, 0
    while at < len(body):
        total = int.from_bytes(body[at : at + 4], "big")
        if marker in body[at : at + total]:
            return body[:at]
        at += total
    raise AssertionError(f"{marker!r} is in no message")


# Converse and ConverseStream


def test_c06_converse_stream_usage_comes_from_the_metadata_event() -> None:
    call = parse(_stream("c06_converse_stream_cache_read"))

    assert call.usage == Usage(
        input_tokens=40,
        cache_read_tokens=6000,
        cache_write_5m_tokens=0,
        output_tokens=90,
    )
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert (call.api, call.streaming) == (Api.CONVERSE, True)
    assert call.model == "claude-sonnet-4-5-20250929"
    assert call.region == "us"


def test_converse_cache_writes_are_split_by_ttl() -> None:
    call = parse(load("bedrock/converse_cache_write_ttl_split"))

    assert call.usage == Usage(
        input_tokens=7,
        cache_read_tokens=1024,
        cache_write_5m_tokens=2048,
        cache_write_1h_tokens=4096,
        output_tokens=96,
    )
    assert (call.model, call.region) == ("claude-sonnet-4-5-20250929", "eu")
    assert call.service_tier == "flex"
    assert call.streaming is False


def test_converse_stream_cut_before_metadata_is_truncated_without_usage() -> None:
    exchange = _stream("c06_converse_stream_cache_read")
    cut = _cut_before(exchange, b"metadata")

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ABSENT


def test_an_exception_inside_a_converse_stream_is_an_error() -> None:
    call = parse(_stream("converse_stream_throttled"))

    assert (call.status, call.error_type) == (CallStatus.ERROR, "throttlingException")
    assert call.http_status == 200
    assert call.model == "amazon.nova-micro-v1:0"


def test_converse_stream_content_starts_at_the_first_delta() -> None:
    exchange = _stream("c06_converse_stream_cache_read")
    reader = exchange.reader()

    reader.feed(_cut_before(exchange, b"contentBlockDelta"))
    before = reader.content_started
    reader.feed(exchange.body[len(_cut_before(exchange, b"contentBlockDelta")) :])

    assert (before, reader.content_started) == (False, True)


# M02: application inference profiles


def test_m02_an_unmapped_profile_is_reported_as_its_id() -> None:
    call = parse(load("bedrock/m02_application_inference_profile_converse"))

    assert call.model == "mi1dadi0g15f"
    assert call.model_requested == PROFILE_ARN
    assert call.region == "us-east-1"
    assert call.usage.cache_write_5m_tokens == 2048


@pytest.mark.usefixtures("profiles")
@pytest.mark.parametrize("key", [PROFILE_ARN, "mi1dadi0g15f"])
def test_m02_a_configured_profile_resolves_to_its_model(key: str) -> None:
    configure_inference_profiles({key: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"})

    call = parse(load("bedrock/m02_application_inference_profile_converse"))

    assert (call.model, call.region) == ("claude-sonnet-4-5-20250929", "us")
    assert call.model_requested == PROFILE_ARN


@pytest.mark.usefixtures("profiles")
def test_a_profile_mapped_to_a_bare_model_keeps_the_arn_region() -> None:
    configure_inference_profiles({"mi1dadi0g15f": "claude-haiku-4-5-20251001"})

    resolved = resolve_model_id(PROFILE_ARN)

    assert resolved is not None
    assert (resolved.model, resolved.region) == (
        "claude-haiku-4-5-20251001",
        "us-east-1",
    )


@pytest.mark.usefixtures("profiles")
@pytest.mark.parametrize(
    ("mapping", "named"),
    [({"p1": ""}, "'p1'"), ({" ": "claude-haiku-4-5"}, "' '")],
)
def test_an_empty_profile_mapping_is_refused_with_the_fix(
    mapping: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        configure_inference_profiles(mapping)

    assert "ARN" in str(error.value) or "model id" in str(error.value)


# InvokeModel and InvokeModelWithResponseStream


def test_invoke_with_a_claude_body_uses_its_usage_and_ttl_split() -> None:
    call = parse(load("bedrock/invoke_claude_cache"))

    assert call.usage == Usage(
        input_tokens=3,
        cache_read_tokens=9511,
        cache_write_5m_tokens=956,
        cache_write_1h_tokens=1000,
        output_tokens=44,
    )
    assert (call.api, call.streaming, call.status) == (Api.INVOKE, False, CallStatus.OK)
    assert (call.model, call.region) == ("claude-haiku-4-5-20251001", "eu")
    assert call.response_id == "msg_bdrk_01PwGjqAJE4R8ZBE8KCtMEjG"


def test_invoke_of_another_vendor_takes_the_metrics_headers() -> None:
    call = parse(load("bedrock/invoke_llama_header_metrics"))

    assert call.usage == Usage(input_tokens=17, output_tokens=9)
    assert call.usage_source is UsageSource.PROVIDER
    assert (call.model, call.region) == ("meta.llama3-3-70b-instruct-v1:0", "us-west-2")


def test_invoke_stream_of_claude_gives_anthropic_usage() -> None:
    call = parse(_stream("invoke_stream_claude"))

    assert call.usage == Usage(
        input_tokens=12,
        cache_read_tokens=20480,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=2000,
        output_tokens=57,
    )
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert (call.api, call.streaming) == (Api.INVOKE, True)
    assert (call.model, call.region) == ("claude-haiku-4-5-20251001", "global")
    assert call.response_id == "msg_bdrk_01Xv7sQm2Lc9Tn4Rb8Ke3WdY"


def test_invoke_stream_of_another_vendor_takes_the_invocation_metrics() -> None:
    call = parse(_stream("invoke_stream_llama"))

    assert call.usage == Usage(input_tokens=17, output_tokens=9)
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert (call.model, call.region) == ("meta.llama3-3-70b-instruct-v1:0", "us")


def test_invoke_stream_cut_before_its_last_chunk_is_truncated() -> None:
    exchange = _stream("invoke_stream_llama")
    first = _messages(exchange.body)[0]

    first_only = parse(exchange, [first], complete=False)
    half_a_message = parse(exchange, [first[: len(first) // 2]], complete=False)

    assert first_only.status is CallStatus.TRUNCATED
    assert first_only.usage_source is UsageSource.ABSENT
    assert half_a_message.status is CallStatus.TRUNCATED


def test_claude_invoke_stream_without_its_message_stop_is_truncated() -> None:
    exchange = _stream("invoke_stream_claude")
    messages = _messages(exchange.body)

    call = parse(exchange, [b"".join(messages[:-1])], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.output_tokens == 57  # message_delta's final total


def test_claude_invoke_stream_cut_before_message_delta_is_estimated() -> None:
    exchange = _stream("invoke_stream_claude")

    call = parse(exchange, [b"".join(_messages(exchange.body)[:3])], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage.input_tokens == 12


def test_a_model_stream_exception_makes_an_error_with_estimated_usage() -> None:
    call = parse(_stream("invoke_stream_model_error"))

    assert (call.status, call.error_type) == (
        CallStatus.ERROR,
        "modelStreamErrorException",
    )
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage == Usage(input_tokens=8, output_tokens=1)
    assert (call.model, call.region) == ("claude-3-5-haiku-20241022", "us-east-1")


def test_invoke_stream_content_starts_at_the_first_text_delta() -> None:
    exchange = _stream("invoke_stream_claude")
    messages = _messages(exchange.body)
    reader = exchange.reader()

    reader.feed(b"".join(messages[:2]))
    before = reader.content_started
    reader.feed(messages[2])

    assert (before, reader.content_started) == (False, True)


def test_an_error_message_with_an_error_code_is_an_error() -> None:
    exchange = _stream("invoke_stream_llama")
    error = encode_message(
        {":message-type": "error", ":error-code": "InternalFailure"}, b""
    )

    call = parse(exchange, [_messages(exchange.body)[0], error], complete=True)

    assert (call.status, call.error_type) == (CallStatus.ERROR, "InternalFailure")


def test_chunks_without_base64_bytes_are_skipped() -> None:
    exchange = _stream("invoke_stream_llama")
    odd = [
        encode_message({":event-type": "chunk"}, b'{"bytes": "not base64!"}'),
        encode_message({":event-type": "chunk"}, b'{"p": "no bytes"}'),
        encode_message({":event-type": "chunk"}, b"[1, 2]"),
    ]

    call = parse(exchange, [*odd, exchange.body])

    assert call.usage == Usage(input_tokens=17, output_tokens=9)


def test_claude_invoke_stream_ending_without_metrics_is_complete() -> None:
    exchange = _stream("invoke_stream_claude")
    messages = _messages(exchange.body)
    plain_stop = _chunk({"type": "message_stop"})

    call = parse(exchange, [*messages[:-1], plain_stop])

    assert call.status is CallStatus.OK
    assert call.usage.output_tokens == 57


@pytest.mark.parametrize(
    "named", [b'"model": " ", ', b'"model": null, ', b'"model": "%20", ']
)
def test_a_claude_body_without_a_usable_model_keeps_the_url_model(named: bytes) -> None:
    exchange = load("bedrock/invoke_claude_cache")
    body = exchange.body.replace(b'"model": "claude-haiku-4-5-20251001", ', named)
    assert body != exchange.body

    call = parse(exchange, [body])

    assert call.model == "claude-haiku-4-5-20251001"


def test_an_invoke_http_error_is_an_error() -> None:
    exchange = load("bedrock/invoke_claude_cache")
    route = default_registry().route(exchange.request)
    assert route is not None
    head = ResponseHead(403, {"x-amzn-errortype": "AccessDeniedException:x"})
    reader = route.reader(exchange.request, head)
    reader.feed(b'{"message": "You don\'t have access to the model."}')

    call = reader.finish(complete=True)

    assert (call.status, call.error_type) == (CallStatus.ERROR, "AccessDeniedException")
    assert call.usage.is_empty


def test_cache_details_with_an_unknown_ttl_fall_back_to_the_total() -> None:
    exchange = load("bedrock/converse_cache_write_ttl_split")
    body = exchange.body.replace(b'"ttl": "1h"', b'"ttl": "2h"')

    call = parse(exchange, [body])

    assert (call.usage.cache_write_5m_tokens, call.usage.cache_write_1h_tokens) == (
        6144,
        None,
    )


# CountTokens and errors


def test_count_tokens_is_recorded_but_not_billable() -> None:
    call = parse(load("bedrock/count_tokens"))

    assert (call.api, call.billable) == (Api.COUNT_TOKENS, False)
    assert call.usage.is_empty
    assert call.model is None
    assert call.model_requested == "anthropic.claude-sonnet-4-20250514-v1:0"
    assert call.region == "us-east-1"  # the FIPS host's region


def test_http_error_takes_its_type_from_the_header() -> None:
    call = parse(load("bedrock/http_400_validation"))

    assert (call.status, call.http_status) == (CallStatus.ERROR, 400)
    assert call.error_type == "ValidationException"
    assert call.usage.is_empty
    assert call.streaming is True


def test_a_count_tokens_error_is_an_error() -> None:
    exchange = load("bedrock/count_tokens")
    route = default_registry().route(exchange.request)
    assert route is not None
    head = ResponseHead(400, {"x-amzn-errortype": "ValidationException:x"})
    reader = route.reader(exchange.request, head)
    reader.feed(b'{"message": "The provided model doesn\'t support counting tokens."}')

    call = reader.finish(complete=True)

    assert (call.status, call.error_type, call.billable) == (
        CallStatus.ERROR,
        "ValidationException",
        False,
    )


def test_an_error_type_header_that_is_not_a_name_is_dropped() -> None:
    exchange = load("bedrock/http_400_validation")
    route = default_registry().route(exchange.request)
    assert route is not None
    head = ResponseHead(500, {"x-amzn-errortype": "a b c"})
    reader = route.reader(exchange.request, head)
    reader.feed(b'{"__type": "InternalServerException"}')

    assert reader.finish(complete=True).error_type == "InternalServerException"


# Model ids


@pytest.mark.parametrize(
    ("raw", "model", "region"),
    [
        (
            "anthropic.claude-haiku-4-5-20251001-v1%3A0",
            "claude-haiku-4-5-20251001",
            None,
        ),
        (
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5-20251001",
            "us",
        ),
        (
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5-20250929",
            "eu",
        ),
        (
            "apac.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "claude-3-5-sonnet-20241022",
            "apac",
        ),
        (
            "global.anthropic.claude-opus-4-5-20251101-v1:0",
            "claude-opus-4-5-20251101",
            "global",
        ),
        ("us.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", "us"),
        (
            "anthropic.claude-3-sonnet-20240229-v1:0:28k",
            "claude-3-sonnet-20240229",
            None,
        ),
        ("anthropic.claude-v2", "claude-v2", None),
        ("us.amazon.nova-micro-v1%3A0", "amazon.nova-micro-v1:0", "us"),
        ("deepseek.r1-v1:0", "deepseek.r1-v1:0", None),
        (
            "arn%3Aaws%3Abedrock%3Aus-west-2%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0",
            "claude-3-haiku-20240307",
            "us-west-2",
        ),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5-20251001",
            "eu",
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xk2p9q",
            "xk2p9q",
            "us-east-1",
        ),
    ],
)
def test_model_ids_resolve_to_the_vendor_id_and_geo(
    raw: str, model: str, region: str | None
) -> None:
    resolved = resolve_model_id(raw)

    assert resolved is not None
    assert (resolved.model, resolved.region) == (model, region)


def test_an_empty_model_id_resolves_to_nothing() -> None:
    assert resolve_model_id("%20") is None


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/invoke", "bedrock.invoke"),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/invoke-with-response-stream", "bedrock.invoke"),
        ("POST", "bedrock-runtime-fips.us-east-1.amazonaws.com", "/model/m/converse", "bedrock.converse"),
        ("POST", "bedrock-runtime.eu-west-3.amazonaws.com", "/model/m/converse-stream", "bedrock.converse"),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/count-tokens", "bedrock.count_tokens"),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/arn:aws:bedrock:us-east-1:1:application-inference-profile/p/converse", "bedrock.converse"),
        ("POST", "bedrock-runtime.cn-north-1.amazonaws.com.cn", "/model/m/converse", "bedrock.converse"),
        ("GET", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", None),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/apply-guardrail", None),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model//converse", None),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/async-invoke", None),
        ("POST", "runtime.sagemaker.us-east-1.amazonaws.com", "/endpoints/e/invocations", None),
        ("POST", "bedrock-runtime.us-east-1.amazonaws.com.evil.example", "/model/m/invoke", None),
    ],
)  # fmt: skip
def test_routes(method: str, host: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method=method, host=host, path=path))

    assert (route.name if route else None) == expected


# Any split, any damage


@pytest.mark.parametrize("exchange", STREAMS, ids=lambda e: e.name)
def test_one_byte_at_a_time_gives_the_same_call(exchange: Exchange) -> None:
    assert parse(exchange, one_byte_at_a_time(exchange.body)) == parse(exchange)


@pytest.mark.parametrize("exchange", STREAMS, ids=lambda e: e.name)
def test_random_splits_give_the_same_call(exchange: Exchange) -> None:
    whole = parse(exchange)
    rng = random.Random(exchange.name)

    for _ in range(25):
        assert (
            parse(exchange, random_splits(exchange.body, rng, rng.randint(2, 40)))
            == whole
        )


class _Faults(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "providers.reader.failed" in record.getMessage()


def _run_without_faults(exchange: Exchange, body: bytes, cuts: list[int]) -> ParsedCall:
    handler = _Faults()
    logger = logging.getLogger("spendtap.providers")
    logger.addHandler(handler)
    try:
        bounds = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]
        reader = exchange.reader()
        for a, b in itertools.pairwise(bounds):
            reader.feed(body[a:b])
        call = reader.finish(complete=False)
    finally:
        logger.removeHandler(handler)
    assert handler.count == 0, "a parser raised and was caught: handle that input"
    return call


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(
    exchange=st.sampled_from(STREAMS),
    keep=st.floats(min_value=0, max_value=1),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_truncated_streams_never_raise_and_are_never_ok(
    exchange: Exchange, keep: float, cuts: list[int]
) -> None:
    body = exchange.body[: int(len(exchange.body) * keep)]
    whole = parse(exchange)

    call = _run_without_faults(exchange, body, cuts)

    if len(body) < len(exchange.body) and whole.status is CallStatus.OK:
        assert call.status is CallStatus.TRUNCATED


@FUZZ
@given(
    exchange=st.sampled_from(STREAMS),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.binary(max_size=8)), max_size=6
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_damaged_streams_never_raise(
    exchange: Exchange, edits: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    body = exchange.body
    for position, fragment in edits:
        at = position % (len(body) + 1)
        body = body[:at] + fragment + body[at + len(fragment) :]

    assert isinstance(_run_without_faults(exchange, body, cuts), ParsedCall)


@FUZZ
@given(
    chunk=st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["message_start", "message_delta", "error", 1]),
            "message": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers())),
            "usage": st.dictionaries(st.sampled_from(["input_tokens", "output_tokens"]), st.integers()),
            "amazon-bedrock-invocationMetrics": st.one_of(
                st.none(),
                st.integers(),
                st.dictionaries(st.sampled_from(["inputTokenCount", "outputTokenCount"]), st.one_of(st.integers(), st.text(max_size=3))),
            ),
        },
    )
)  # fmt: skip
def test_odd_chunk_contents_never_raise(chunk: dict[str, object]) -> None:
    exchange = _stream("invoke_stream_claude")

    _run_without_faults(exchange, _chunk(chunk) + exchange.body, [])


@pytest.mark.parametrize(
    ("garbage", "limit"),
    [
        ("random bytes", 1024 * 1024),
        ("one endless message", MAX_MESSAGE_BYTES + 1024 * 1024),
    ],
)
def test_50_mb_of_garbage_leaves_reader_state_bounded(garbage: str, limit: int) -> None:
    exchange = _stream("invoke_stream_claude")
    rng = random.Random(20251204)
    piece = rng.randbytes(64 * 1024)
    first = piece
    if garbage == "one endless message":
        endless = encode_message({":event-type": "chunk"}, b"")
        first = (MAX_MESSAGE_BYTES).to_bytes(4, "big") + endless[4:8]
        first += zlib.crc32(first).to_bytes(4, "big")
    tracemalloc.start()
    try:
        reader = exchange.reader()
        baseline, _ = tracemalloc.get_traced_memory()
        reader.feed(first)
        for _ in range(50 * 16):
            reader.feed(piece)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert held - baseline < limit, f"reader holds {held - baseline} bytes"
    assert reader.finish(complete=False).status is CallStatus.TRUNCATED


def _chunk(event: dict[str, object]) -> bytes:
    inner = base64.b64encode(json.dumps(event).encode()).decode()
    return encode_message(
        {":event-type": "chunk"}, json.dumps({"bytes": inner}).encode()
    )


def _messages(body: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(body):
        total = int.from_bytes(body[at : at + 4], "big")
        out.append(body[at : at + total])
        at += total
    return out
