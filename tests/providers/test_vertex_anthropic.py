"""Claude on Vertex AI: rawPredict, streamRawPredict, token counting (case M01)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spendtap.event import Api, CallStatus, CostStatus, Usage, UsageSource
from spendtap.pricing.pricer import Pricer
from spendtap.providers.base import RequestInfo
from spendtap.providers.registry import default_registry
from spendtap.providers.vertex_paths import normalise_vertex_model, parse_vertex_path
from tests.providers.exchanges import inline, load, parse

BASE = "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5"


def test_m01_unversioned_model_resolves_to_the_served_model() -> None:
    call = parse(load("vertex_anthropic/m01_unversioned_model_raw_predict"))

    assert call.usage == Usage(
        input_tokens=18, cache_read_tokens=0, cache_write_5m_tokens=0, output_tokens=14
    )
    assert (call.provider, call.api) == ("gcp.vertex_ai", Api.MESSAGES)
    assert (call.status, call.streaming) == (CallStatus.OK, False)
    assert call.model_requested == "claude-haiku-4-5"
    assert call.model == "claude-haiku-4-5-20251001"
    assert call.region == "us-east5"


def test_m01_default_version_streams_with_a_one_hour_cache_write() -> None:
    call = parse(load("vertex_anthropic/m01_default_version_stream"))

    assert call.usage == Usage(
        input_tokens=9,
        cache_read_tokens=30512,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=2048,
        output_tokens=41,
    )
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert call.streaming is True
    assert call.model_requested == "claude-haiku-4-5@default"
    assert call.model == "claude-haiku-4-5-20251001"
    assert call.region == "global"
    assert call.response_id == "msg_vrtx_01Hc8QmT4nW2rYp7LbV3sKdE"


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "claude-haiku-4-5@default"])
def test_m01_a_response_without_a_model_keeps_the_url_model_and_is_priced(
    model: str,
) -> None:
    exchange = inline(
        f"{BASE}/publishers/anthropic/models/{model}:rawPredict",
        {"anthropic_version": "vertex-2023-10-16", "max_tokens": 10},
        200,
        "application/json",
        '{"type": "message", "usage": {"input_tokens": 1000, "output_tokens": 200}}',
    )
    call = parse(exchange)

    price = Pricer().price(
        call.provider, call.model, call.usage, datetime(2026, 1, 5, tzinfo=UTC)
    )

    assert call.model == "claude-haiku-4-5"
    assert price.cost_status is CostStatus.PRICED
    assert price.cost_usd is not None and price.cost_usd > 0


def test_a_versioned_model_is_normalised_when_the_response_names_none() -> None:
    call = parse(load("vertex_anthropic/versioned_model_europe_west1"))

    assert call.model_requested == "claude-haiku-4-5@20251001"
    assert call.model == "claude-haiku-4-5-20251001"
    assert call.region == "europe-west1"
    assert call.usage == Usage(
        input_tokens=6,
        cache_read_tokens=800,
        cache_write_5m_tokens=1200,
        output_tokens=5,
    )


def test_count_tokens_is_recorded_but_not_billable() -> None:
    call = parse(load("vertex_anthropic/count_tokens"))

    assert (call.api, call.billable) == (Api.COUNT_TOKENS, False)
    assert call.usage.is_empty
    assert call.usage_source is UsageSource.ABSENT
    assert call.model_requested == "claude-sonnet-4-5@20250929"
    assert call.region == "us-east5"


def test_count_tokens_method_takes_the_model_from_the_url() -> None:
    exchange = inline(
        f"{BASE}/publishers/anthropic/models/claude-opus-4-1:countTokens",
        {"messages": []},
        200,
        "application/json",
        '{"input_tokens": 3}',
    )

    call = parse(exchange)

    assert (call.api, call.billable, call.model_requested) == (
        Api.COUNT_TOKENS,
        False,
        "claude-opus-4-1",
    )


def test_a_count_tokens_error_is_an_error() -> None:
    exchange = inline(
        f"{BASE}/publishers/anthropic/models/count-tokens:rawPredict",
        {"model": "claude-haiku-4-5"},
        400,
        "application/json",
        '{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}',
    )

    call = parse(exchange)

    assert (call.status, call.error_type, call.billable) == (
        CallStatus.ERROR,
        "INVALID_ARGUMENT",
        False,
    )


def test_a_google_shaped_quota_error_keeps_its_status_name() -> None:
    call = parse(load("vertex_anthropic/http_429_resource_exhausted"))

    assert (call.status, call.http_status) == (CallStatus.ERROR, 429)
    assert call.error_type == "RESOURCE_EXHAUSTED"
    assert call.usage.is_empty
    assert call.streaming is True
    assert call.model == "claude-sonnet-4-5-20250929"


def test_an_anthropic_shaped_error_keeps_its_type() -> None:
    exchange = inline(
        f"{BASE}/publishers/anthropic/models/claude-haiku-4-5:rawPredict",
        {},
        529,
        "application/json",
        '{"type": "error", "error": {"type": "overloaded_error", "message": "x"}}',
    )

    assert parse(exchange).error_type == "overloaded_error"


def test_a_stream_cut_before_message_delta_is_truncated_and_estimated() -> None:
    exchange = load("vertex_anthropic/m01_default_version_stream")
    cut = exchange.body[: exchange.body.index(b"event: message_delta")]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.region == "global"
    assert call.model == "claude-haiku-4-5-20251001"


def test_stream_raw_predict_streams_even_without_the_stream_flag() -> None:
    exchange = load("vertex_anthropic/m01_default_version_stream")
    request = RequestInfo(
        method="POST",
        host=exchange.request.host,
        path=exchange.request.path,
        body=b"{}",
    )
    route = default_registry().route(request)
    assert route is not None
    reader = route.reader(request, exchange.head)
    reader.feed(exchange.body)

    call = reader.finish(complete=True)

    assert call.streaming is True
    assert call.usage.output_tokens == 41


def test_content_starts_at_the_first_text_delta() -> None:
    exchange = load("vertex_anthropic/m01_default_version_stream")
    first_delta = exchange.body.index(b"event: content_block_delta")
    reader = exchange.reader()

    reader.feed(exchange.body[:first_delta])
    before = reader.content_started
    reader.feed(exchange.body[first_delta:])

    assert (before, reader.content_started) == (False, True)


@pytest.mark.parametrize(
    ("model", "normalised"),
    [
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001"),
        ("claude-haiku-4-5@default", "claude-haiku-4-5"),
        ("claude-haiku-4-5", "claude-haiku-4-5"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2-20241022"),
        ("claude-opus-4-1@latest", "claude-opus-4-1"),
    ],
)
def test_vertex_model_versions_normalise_to_the_vendor_id(
    model: str, normalised: str
) -> None:
    assert normalise_vertex_model(model) == normalised


def test_a_percent_encoded_version_is_decoded() -> None:
    path = "/v1/projects/p/locations/global/publishers/anthropic/models/m%4020251001:rawPredict"
    target = parse_vertex_path(path)

    assert target is not None
    assert (target.model, target.location, target.method) == (
        "m@20251001",
        "global",
        "rawPredict",
    )


V1 = "/v1/projects/p/locations/us-east5/publishers"
V1BETA1 = "/v1beta1/projects/p/locations/global/publishers"


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        ("POST", "us-east5-aiplatform.googleapis.com", f"{V1}/anthropic/models/claude-haiku-4-5:rawPredict", "vertex.anthropic.messages"),
        ("POST", "aiplatform.googleapis.com", f"{V1BETA1}/anthropic/models/claude-haiku-4-5@default:streamRawPredict", "vertex.anthropic.messages"),
        ("POST", "europe-west1-aiplatform.googleapis.com", f"{V1}/anthropic/models/count-tokens:rawPredict", "vertex.anthropic.count_tokens"),
        ("POST", "aiplatform.googleapis.com", f"{V1}/anthropic/models/claude-haiku-4-5:countTokens", "vertex.anthropic.count_tokens"),
        ("POST", "aiplatform.googleapis.com", f"{V1}/google/models/gemini-2.5-flash:generateContent", "vertex.gemini.generate_content"),
        ("POST", "aiplatform.googleapis.com", f"{V1}/meta/models/llama-4:rawPredict", None),
        ("POST", "aiplatform.googleapis.com", f"{V1}/anthropic/models/claude-haiku-4-5:predict", None),
        ("GET", "aiplatform.googleapis.com", f"{V1}/anthropic/models/claude-haiku-4-5:rawPredict", None),
        ("POST", "aiplatform.googleapis.com.evil.example", f"{V1}/anthropic/models/c:rawPredict", None),
        ("POST", "us-east5-aiplatform.googleapis.com", "/v1/projects/p/locations/us-east5/endpoints/123:rawPredict", None),
    ],
)  # fmt: skip
def test_routes(method: str, host: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method=method, host=host, path=path))

    assert (route.name if route else None) == expected
