"""Gemini API and Gemini on Vertex (cases R02, R03, R04, S01)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices.data_snapshot import get_snapshot

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.pricing.pricer import Pricer
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.gemini import normalise_gemini_model
from spendtap.providers.gemini_usage import gemini_usage, service_tier
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import fixture_paths, inline, load, load_path, parse

GEMINI = "https://generativelanguage.googleapis.com/v1beta/models"
SSE = "text/event-stream"


def test_r02_thoughts_are_added_to_output() -> None:
    call = parse(load("gemini/r02_thoughts_added_to_output"))

    assert call.usage == Usage(
        input_tokens=55021, output_tokens=923 + 785, reasoning_tokens=785
    )
    assert (call.provider, call.api) == ("gcp.gemini", Api.GENERATE_CONTENT)
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert call.model == "gemini-2.5-pro"
    assert call.region is None
    assert call.response_id == "kV3oaN2rFYi0qtsPwb2H8Qc"


def test_r03_vertex_thoughts_are_priced_at_the_output_rate() -> None:
    call = parse(load("gemini/r03_vertex_thoughts"))
    at = datetime(2025, 10, 2, tzinfo=UTC)
    _, model = get_snapshot().find_provider_model(
        "gemini-2.5-flash", None, "google", None
    )
    rates = model.get_prices(at)
    expected = (
        1210 * Decimal(str(rates.input_mtok))
        + (11 + 348) * Decimal(str(rates.output_mtok))
    ) / 1_000_000

    price = Pricer().price(call.provider, call.model, call.usage, at)

    assert call.usage == Usage(
        input_tokens=1210, output_tokens=359, reasoning_tokens=348
    )
    assert (call.provider, call.region) == ("gcp.vertex_ai", "us-central1")
    assert call.service_tier == "standard"
    assert price.cost_usd == expected


@pytest.mark.parametrize(
    "fixture",
    [
        "gemini/r04_thoughts_counted_inside_total_old",
        "gemini/r04_thoughts_counted_inside_total_new",
    ],
)
def test_r04_output_is_candidates_plus_thoughts_before_and_after_the_change(
    fixture: str,
) -> None:
    call = parse(load(fixture))

    assert call.usage.output_tokens == 923 + 785
    assert call.usage.reasoning_tokens == 785
    assert call.usage.input_tokens == 412


def test_s01_a_stream_takes_the_last_cumulative_snapshot() -> None:
    call = parse(load("gemini/s01_stream_sse_cumulative_usage"))

    assert call.usage == Usage(
        input_tokens=18, output_tokens=80 + 35, reasoning_tokens=35
    )
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert call.streaming is True
    assert call.model == "gemini-2.5-flash"


def test_s01_a_stream_cut_before_finish_reason_is_truncated_and_estimated() -> None:
    exchange = load("gemini/s01_stream_sse_cumulative_usage")
    cut = exchange.body[: exchange.body.index(b'"finishReason"')]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage.output_tokens == 79 + 35


def test_the_api_key_in_the_url_is_never_in_the_result() -> None:
    for name in ("gemini/s01_stream_sse_cumulative_usage", "gemini/count_tokens"):
        exchange = load(name)
        assert b"key=AIza" in exchange.request.path.encode()

        call = parse(exchange)

        assert "AIza" not in repr(call)
        assert "secret" not in repr(call)


def test_a_default_stream_is_a_json_array_read_element_by_element() -> None:
    call = parse(load("gemini/stream_json_array"))

    assert call.usage == Usage(
        input_tokens=4210 - 4096 + 219, cache_read_tokens=4096, output_tokens=57
    )
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.PROVIDER)
    assert call.streaming is True
    assert call.model_requested == "gemini-2.0-flash-001"
    assert call.model == "gemini-2.0-flash"


def test_a_json_array_stream_cut_before_its_end_is_truncated() -> None:
    exchange = load("gemini/stream_json_array")
    cut = exchange.body[: exchange.body.index(b'"finishReason"')]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.cache_read_tokens == 4096


def test_a_closed_json_array_is_complete_without_a_finish_reason() -> None:
    exchange = inline(
        f"{GEMINI}/gemini-2.5-flash:streamGenerateContent",
        {},
        200,
        "application/json",
        '[{"candidates": [{"content": {"parts": [{"text": "x"}]}}],'
        '"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}]',
    )

    call = parse(exchange)

    assert call.status is CallStatus.OK
    assert call.usage == Usage(input_tokens=3, output_tokens=1)


def test_vertex_json_array_stream_on_flex() -> None:
    call = parse(load("gemini/vertex_stream_json_array_flex"))

    assert call.usage == Usage(input_tokens=5, output_tokens=101, reasoning_tokens=100)
    assert (call.provider, call.region) == ("gcp.vertex_ai", "global")
    assert call.service_tier == "flex"
    assert call.streaming is True


def test_an_error_inside_a_stream_makes_an_error_with_estimated_usage() -> None:
    call = parse(load("gemini/stream_error_chunk"))

    assert (call.status, call.error_type) == (CallStatus.ERROR, "UNAVAILABLE")
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage == Usage(input_tokens=730, output_tokens=4)


def test_http_error_has_the_google_status_and_no_usage() -> None:
    call = parse(load("gemini/http_429_resource_exhausted"))

    assert (call.status, call.http_status) == (CallStatus.ERROR, 429)
    assert call.error_type == "RESOURCE_EXHAUSTED"
    assert call.usage.is_empty
    assert call.usage_source is UsageSource.ABSENT
    assert call.streaming is True


def test_an_error_array_or_a_code_only_error_is_read_too() -> None:
    url = f"{GEMINI}/gemini-2.5-pro:streamGenerateContent"
    array = inline(url, {}, 400, "application/json", '[{"error": {"code": 400}}]')
    junk = inline(url, {}, 502, "text/html", "<html>bad gateway</html>")

    assert (parse(array).status, parse(array).error_type) == (CallStatus.ERROR, "400")
    assert (parse(junk).status, parse(junk).error_type) == (CallStatus.ERROR, None)


def test_a_blocked_prompt_is_a_complete_call() -> None:
    exchange = inline(
        f"{GEMINI}/gemini-2.5-flash:generateContent",
        {},
        200,
        "application/json",
        '{"promptFeedback": {"blockReason": "SAFETY"},'
        '"usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}',
    )

    call = parse(exchange)

    assert call.status is CallStatus.OK
    assert call.usage == Usage(input_tokens=9)


def test_count_tokens_is_recorded_but_not_billable() -> None:
    call = parse(load("gemini/count_tokens"))

    assert (call.api, call.billable) == (Api.COUNT_TOKENS, False)
    assert call.usage.is_empty
    assert call.model is None
    assert call.model_requested == "gemini-2.5-flash"


def test_embed_content_is_recorded_without_usage() -> None:
    call = parse(load("gemini/embed_content"))

    assert (call.api, call.status) == (Api.EMBEDDINGS, CallStatus.OK)
    assert call.usage_source is UsageSource.ABSENT
    assert call.model == "gemini-embedding-001"


def test_vertex_embedding_predict_sums_the_instance_token_counts() -> None:
    call = parse(load("gemini/vertex_embedding_predict"))

    assert call.usage == Usage(input_tokens=3 + 7)
    assert (call.provider, call.api, call.region) == (
        "gcp.vertex_ai",
        Api.EMBEDDINGS,
        "us-central1",
    )


def test_embeddings_with_usage_metadata_or_an_error_body() -> None:
    url = f"{GEMINI}/gemini-embedding-001:batchEmbedContents"
    usage = inline(
        url, {}, 200, "application/json", '{"usageMetadata": {"promptTokenCount": 21}}'
    )
    error = inline(url, {}, 200, "application/json", '{"error": {"status": "X"}}')

    assert parse(usage).usage == Usage(input_tokens=21)
    assert (parse(error).status, parse(error).error_type) == (CallStatus.ERROR, "X")


def test_content_starts_at_the_first_part() -> None:
    exchange = load("gemini/stream_json_array")
    first_part = exchange.body.index(b'"parts"')
    reader = exchange.reader()

    reader.feed(exchange.body[:first_part])
    before = reader.content_started
    reader.feed(exchange.body[first_part:])

    assert (before, reader.content_started) == (False, True)


def test_sse_content_type_streams_even_for_generate_content() -> None:
    exchange = load("gemini/s01_stream_sse_cumulative_usage")
    request = RequestInfo(
        "POST", exchange.request.host, "/v1beta/models/gemini-2.5-flash:generateContent"
    )
    route = default_registry().route(request)
    assert route is not None
    reader = route.reader(request, ResponseHead(200, {"content-type": SSE}))
    reader.feed(exchange.body)

    call = reader.finish(complete=True)

    assert call.streaming is True
    assert call.usage.output_tokens == 115


@pytest.mark.parametrize(
    ("raw", "usage"),
    [
        ({}, Usage()),
        ({"promptTokenCount": 10}, Usage(input_tokens=10)),
        ({"candidatesTokenCount": 4}, Usage(output_tokens=4)),
        ({"thoughtsTokenCount": 6}, Usage(output_tokens=6, reasoning_tokens=6)),
        (
            {"promptTokenCount": 100, "cachedContentTokenCount": 60},
            Usage(input_tokens=40, cache_read_tokens=60),
        ),
        ({"toolUsePromptTokenCount": 7}, Usage(input_tokens=7)),
        ({"promptTokenCount": 5, "cachedContentTokenCount": 9}, Usage(input_tokens=0, cache_read_tokens=9)),
        ({"promptTokenCount": -1, "candidatesTokenCount": True}, Usage()),
    ],
)  # fmt: skip
def test_usage_metadata_normalisation(raw: dict[str, object], usage: Usage) -> None:
    assert gemini_usage(raw) == usage


@pytest.mark.parametrize(
    ("raw", "tier"),
    [
        ({"serviceTier": "STANDARD"}, "standard"),
        ({"trafficType": "ON_DEMAND"}, "standard"),
        ({"trafficType": "ON_DEMAND_PRIORITY"}, "priority"),
        ({"trafficType": "PROVISIONED_THROUGHPUT"}, "provisioned_throughput"),
        ({}, None),
    ],
)
def test_service_tier(raw: dict[str, object], tier: str | None) -> None:
    assert service_tier(raw) == tier


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview-05-20"),
        ("gemini-embedding-001", "gemini-embedding-001"),
        ("text-embedding-004", "text-embedding-004"),
        ("", None),
    ],
)
def test_model_names_normalise(raw: str, normalised: str | None) -> None:
    assert normalise_gemini_model(raw) == normalised


API = "generativelanguage.googleapis.com"
VERTEX = "/v1/projects/p/locations/us-central1/publishers/google/models"


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        ("POST", API, "/v1beta/models/gemini-2.5-flash:generateContent", "gemini.generate_content"),
        ("POST", API, "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini.generate_content"),
        ("POST", API, "/v1beta/tunedModels/my-model-x1:generateContent", "gemini.generate_content"),
        ("POST", API, "/v1beta/models/gemini-2.5-flash:countTokens?key=K", "gemini.count_tokens"),
        ("POST", API, "/v1beta/models/gemini-embedding-001:embedContent", "gemini.embeddings"),
        ("POST", API, "/v1beta/models/gemini-embedding-001:batchEmbedContents", "gemini.embeddings"),
        ("POST", API, "/v1beta/openai/chat/completions", "gcp.gemini.chat_completions"),
        ("POST", API, "/v1beta/fileSearchStores", None),
        ("POST", API, "/upload/v1beta/files", None),
        ("GET", API, "/v1beta/models/gemini-2.5-flash", None),
        ("POST", "us-central1-aiplatform.googleapis.com", f"{VERTEX}/gemini-2.5-flash:generateContent", "vertex.gemini.generate_content"),
        ("POST", "aiplatform.googleapis.com", "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent", "vertex.gemini.generate_content"),
        ("POST", "aiplatform.googleapis.com", f"{VERTEX}/gemini-2.5-flash:countTokens", "vertex.gemini.count_tokens"),
        ("POST", "aiplatform.googleapis.com", f"{VERTEX}/text-embedding-005:predict", "vertex.gemini.embeddings"),
        ("POST", "aiplatform.googleapis.com", f"{VERTEX}/gemini-embedding-001:embedContent", "vertex.gemini.embeddings"),
        ("POST", "aiplatform.googleapis.com", f"{VERTEX}/imagen-4.0-generate-001:predict", None),
        ("POST", "aiplatform.googleapis.com", f"{VERTEX}/gemini-2.5-flash:computeTokens", None),
        ("POST", "evil.example", "/v1beta/models/gemini-2.5-flash:generateContent", None),
    ],
)  # fmt: skip
def test_routes(method: str, host: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method=method, host=host, path=path))

    assert (route.name if route else None) == expected


def test_express_mode_has_no_location_but_a_regional_host_is_one() -> None:
    path = "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    body = '{"candidates": [{"finishReason": "STOP"}]}'
    express = inline(
        f"https://aiplatform.googleapis.com{path}", {}, 200, "application/json", body
    )
    regional = inline(
        f"https://asia-northeast1-aiplatform.googleapis.com{path}",
        {},
        200,
        "application/json",
        body,
    )

    assert parse(express).region is None
    assert parse(regional).region == "asia-northeast1"


def test_every_gemini_fixture_routes_to_a_google_provider() -> None:
    paths = [p for p in fixture_paths() if p.parent.name == "gemini"]

    assert len(paths) >= 10
    for path in paths:
        assert parse(load_path(path)).provider in ("gcp.gemini", "gcp.vertex_ai")


@pytest.mark.parametrize(
    "url",
    [
        f"{GEMINI}/gemini-2.5-flash:countTokens",
        f"{GEMINI}/gemini-embedding-001:embedContent",
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:countTokens",
    ],
)
def test_errors_of_the_other_methods_are_errors(url: str) -> None:
    body = '{"error": {"code": 403, "status": "PERMISSION_DENIED"}}'

    call = parse(inline(url, {}, 403, "application/json", body))

    assert (call.status, call.error_type) == (CallStatus.ERROR, "PERMISSION_DENIED")
    assert call.usage.is_empty


def test_sse_events_that_are_not_json_objects_are_skipped() -> None:
    exchange = load("gemini/s01_stream_sse_cumulative_usage")
    junk = b"data: [DONE]\n\ndata: not json\n\n: comment\n\n"

    assert parse(exchange, [junk, exchange.body]) == parse(exchange)


@pytest.mark.parametrize("host", [API, "aiplatform.googleapis.com"])
def test_a_path_that_names_no_model_gives_no_model(host: str) -> None:
    route = default_registry().route(
        RequestInfo("POST", API, "/v1beta/models/gemini-2.5-flash:generateContent")
    )
    assert route is not None

    reader = route.reader(RequestInfo("POST", host, "/"), ResponseHead(200, {}))
    reader.feed(b'{"candidates": [{"finishReason": "STOP"}]}')
    call = reader.finish(complete=True)

    assert (call.model, call.model_requested, call.status) == (
        None,
        None,
        CallStatus.OK,
    )
