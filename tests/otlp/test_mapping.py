"""Claude Code's and Codex's log events to agent calls; their metrics to totals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from spendtap.otlp.decode import decode_logs, decode_metrics
from spendtap.otlp.mapping import map_logs
from spendtap.otlp.metrics import MetricTotals
from tests.otlp.conftest import JSON, PROTOBUF, fixture

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_claude_code_api_request_protobuf_maps_every_field() -> None:
    mapped = map_logs(decode_logs(fixture("claude_code_logs.pb"), PROTOBUF), NOW)

    (call,) = mapped.calls
    assert mapped.records == 3  # user_prompt, api_request, assistant_response
    assert (call.request_id, call.model, call.provider) == (
        "req_sim_1",
        "claude-opus-4-8",
        "anthropic",
    )
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (
        1539,
        0,
        6,
    )
    assert (call.cache_write_5m_tokens, call.cache_write_1h_tokens) == (17382, None)
    assert call.agent_cost_usd == Decimal("0.1164825")  # 0.11648250000000002 as sent
    assert call.duration_ms == 76
    assert call.ended_at == datetime(2026, 12, 4, 16, 28, 20, 840000, tzinfo=UTC)
    assert call.started_at == datetime(2026, 12, 4, 16, 28, 20, 764000, tzinfo=UTC)
    assert call.session_id == "88f2dd87-ee0c-4892-aac7-c77e8d3d426c"
    assert (call.agent, call.agent_version) == ("claude-code", "2.1.197")
    assert call.user is None  # user.id is a hash, not a person


def test_claude_code_api_request_json_maps_the_same_way() -> None:
    mapped = map_logs(decode_logs(fixture("claude_code_logs.json"), JSON), NOW)

    (call,) = mapped.calls
    assert (call.input_tokens, call.cache_write_5m_tokens, call.output_tokens) == (
        1539,
        17381,
        5,
    )
    assert call.agent_cost_usd == Decimal("0.11645125")
    assert call.key == ("claude_code", "req_sim_1")


def test_codex_response_completed_maps_with_responses_api_counting() -> None:
    mapped = map_logs(decode_logs(fixture("codex_logs.json"), JSON), NOW)

    (call,) = mapped.calls
    assert mapped.records == 3
    # input 5000 includes 1000 cached; output 300 includes 200 reasoning
    assert (call.input_tokens, call.cache_read_tokens) == (4000, 1000)
    assert (call.output_tokens, call.reasoning_tokens) == (300, 200)
    assert (call.agent, call.provider, call.model) == ("codex", "openai", "gpt-5-codex")
    assert call.user == "dev@acme.example"
    assert call.session_id == "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert call.started_at == datetime(2025, 10, 3, 8, 0, 9, 500000, tzinfo=UTC)


def test_claude_code_metrics_are_added_up_by_token_type() -> None:
    totals = MetricTotals()
    totals.add(decode_metrics(fixture("claude_code_metrics.json"), JSON))

    snapshot = totals.snapshot()
    assert snapshot.tokens == {
        ("claude-code", "input"): 1539,
        ("claude-code", "output"): 5,
        ("claude-code", "cacheRead"): 0,
        ("claude-code", "cacheCreation"): 17381,
    }
    assert snapshot.cost_usd == {"claude-code": Decimal("0.11645125")}


def _sum_request(
    value: float, temporality: int, start: int
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    resource.resource.attributes.add(
        key="service.name"
    ).value.string_value = "claude-code"
    metric = resource.scope_metrics.add().metrics.add(name="claude_code.token.usage")
    metric.sum.aggregation_temporality = temporality
    point = metric.sum.data_points.add(as_double=value, start_time_unix_nano=start)
    point.attributes.add(key="type").value.string_value = "output"
    return request


def test_delta_points_add_up_and_cumulative_points_keep_the_latest() -> None:
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    deltas, cumulatives = MetricTotals(), MetricTotals()
    for value in (10, 15):
        deltas.add(_sum_request(value, delta, start=1))
    for value in (10, 25):
        cumulatives.add(_sum_request(value, cumulative, start=1))
    cumulatives.add(_sum_request(7, cumulative, start=2))  # a restarted series

    assert deltas.snapshot().tokens == {("claude-code", "output"): 25}
    assert cumulatives.snapshot().tokens == {("claude-code", "output"): 25 + 7}
