"""Claude Code transcripts: every quirk of how responses are written, counted once."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from spendtap.agentlogs.claude_code import UNKNOWN_BRANCH, provider_of
from spendtap.agentlogs.events import EventFactory
from tests.agentlogs.conftest import ClaudeCopier, claude_calls

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
NAMESPACE = uuid.UUID("6f1c3a52-58f0-4d8e-9a55-2b1d4c0e7a11")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_response_written_as_three_content_block_lines_is_one_call(
    claude_case: ClaudeCopier,
) -> None:
    imported = claude_calls(claude_case("content_blocks"))

    (call,) = imported.calls
    assert (call.response_id, call.request_id, call.model) == (
        "msg_01A",
        "req_01A",
        SONNET,
    )
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (
        12,
        500,
        240,
    )
    assert (call.cache_write_5m_tokens, call.cache_write_1h_tokens) == (3000, 0)
    assert call.started_at == at("2025-10-02T09:00:02.100")
    assert call.ended_at == at("2025-10-02T09:00:04.900")
    assert call.session_id == "a1a1a1a1-1111-4111-8111-111111111111"
    assert imported.stats.merged_lines == 2
    assert imported.stats.lines == 5


def test_streaming_snapshot_keeps_the_largest_output_whichever_line_comes_first(
    claude_case: ClaudeCopier,
) -> None:
    calls = claude_calls(claude_case("streaming_snapshot")).by_response()

    assert calls["msg_02A"].output_tokens == 310  # partial 2 first, final 310 after
    assert calls["msg_02B"].output_tokens == 90  # 90 first, a later line says 5
    assert calls["msg_02B"].model == HAIKU
    assert calls["msg_02B"].cache_read_tokens == 2000


def test_lines_group_by_message_and_request_id_or_message_id_alone(
    claude_case: ClaudeCopier,
) -> None:
    imported = claude_calls(claude_case("request_ids"))
    calls = sorted(
        ((c.response_id, c.request_id, c.output_tokens) for c in imported.calls),
        key=str,
    )

    assert calls == [
        ("msg_03A", None, 50),  # two lines, no request id: one call
        ("msg_03B", "req_03B", 60),  # one line with, one without: one call
        ("msg_03C", "req_03C1", 70),  # one message id, two requests: two calls
        ("msg_03C", "req_03C2", 90),
    ]


def test_spaced_json_lines_are_read(claude_case: ClaudeCopier) -> None:
    calls = claude_calls(claude_case("spaced_json")).by_response()

    assert {k: c.output_tokens for k, c in calls.items()} == {
        "msg_04A": 110,
        "msg_04B": 130,
    }


def test_timestamps_with_any_fraction_or_offset_are_read_as_utc(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    calls = claude_calls(claude_case("timestamps")).by_response()

    started = {k: factory.build_json(c)["started_at"] for k, c in calls.items()}
    assert started == {
        "msg_05A": "2025-10-02T13:00:01.000Z",
        "msg_05B": "2025-10-02T13:00:02.500Z",
        "msg_05C": "2025-10-02T13:00:03.123Z",
        "msg_05D": "2025-10-02T13:00:04.123Z",
        "msg_05E": "2025-10-02T13:00:05.678Z",  # 15:00:05.678+02:00
    }


def test_subagent_lines_inline_and_in_their_own_file_are_counted(
    claude_case: ClaudeCopier,
) -> None:
    calls = claude_calls(claude_case("sidechain")).by_response()

    assert sorted(calls, key=str) == ["msg_06A", "msg_06B", "msg_06C"]
    assert calls["msg_06C"].output_tokens == 400
    assert calls["msg_06C"].session_id == "f6f6f6f6-6666-4666-8666-666666666666"


def test_truncated_last_line_is_skipped_and_counted_with_a_warning(
    claude_case: ClaudeCopier, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        imported = claude_calls(claude_case("truncated"))

    assert [c.response_id for c in imported.calls] == ["msg_07A"]
    assert imported.stats.truncated_lines == 1
    assert "agentlogs.claude_code.line_truncated" in caplog.text


def test_resumed_session_copy_is_counted_once_in_the_original_file(
    claude_case: ClaudeCopier,
) -> None:
    imported = claude_calls(claude_case("resumed"))
    calls = imported.by_response()

    assert sorted(calls, key=str) == ["msg_08A", "msg_08B", "msg_08C"]
    assert imported.stats.cross_file_duplicates == 2
    assert calls["msg_08A"].session_id == "a8a8a8a8-8888-4888-8888-888888888888"
    assert calls["msg_08A"].cache_write_1h_tokens == 800
    assert calls["msg_08C"].session_id == "b8b8b8b8-8888-4888-8888-888888888888"


def test_branch_gives_the_ticket_head_means_unknown_and_cwd_gives_the_repo(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    calls = claude_calls(claude_case("context")).by_response()

    feature = factory.build_json(calls["msg_09A"])
    detached = factory.build_json(calls["msg_09B"])
    assert (feature["branch"], feature["ticket"]) == ("feature/PAY-12-retry", "PAY-12")
    assert (detached["branch"], detached["ticket"]) == (None, None)
    assert feature["repo"] == detached["repo"] == "github.com/Acme/payments"
    assert feature["commit"] is None  # a transcript does not record it
    assert UNKNOWN_BRANCH == "HEAD"


def test_synthetic_error_invalid_and_tool_result_lines_are_not_calls(
    claude_case: ClaudeCopier,
) -> None:
    imported = claude_calls(claude_case("noise"))

    assert [c.response_id for c in imported.calls] == ["msg_10A"]
    assert imported.stats.invalid_lines == 1
    assert imported.stats.synthetic_lines == 2
    assert imported.stats.lines == 8


def test_compaction_steps_are_summed(claude_case: ClaudeCopier) -> None:
    (call,) = claude_calls(claude_case("compaction")).calls

    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (
        950,
        320,
        100,
    )


def test_event_has_contract_fields_list_price_and_a_uuid5_id(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    (call,) = claude_calls(claude_case("content_blocks")).calls

    event = factory.build_json(call)

    assert event["event_id"] == str(
        uuid.uuid5(NAMESPACE, "claude_code_log|msg_01A|req_01A")
    )
    assert event["capture_source"] == "claude_code_log"
    assert (event["provider"], event["api"], event["agent"]) == (
        "anthropic",
        "messages",
        "claude-code",
    )
    assert event["agent_version"] == "2.1.197"
    assert (event["status"], event["usage_source"]) == ("ok", "provider")
    # Sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write per MTok.
    expected = (
        Decimal("12") * 3 + 500 * Decimal("0.3") + 3000 * Decimal("3.75") + 240 * 15
    )
    assert Decimal(str(event["cost_usd"])) == expected / 1_000_000
    assert event["duration_ms"] == 2800
    assert event["response_id"] == "msg_01A"


def test_event_json_fast_path_equals_the_collector_assembly(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    imported = claude_calls(
        claude_case(
            "content_blocks", "request_ids", "timestamps", "context", "compaction"
        )
    )

    for call in imported.calls:
        assert factory.build_json(call) == factory.build(call).to_json()


def test_user_is_the_claude_account_on_disk_never_a_credential(
    claude_case: ClaudeCopier, factory: EventFactory, home: Path
) -> None:
    (home / ".claude.json").write_text(
        json.dumps(
            {
                "oauthAccount": {"emailAddress": "dev@acme.example"},
                "primaryApiKey": "sk-ant-api03-secret",
            }
        )
    )
    (call,) = claude_calls(claude_case("content_blocks")).calls

    event = factory.build_json(call)

    assert event["user"] == "dev@acme.example"
    assert "sk-ant" not in json.dumps(event)


def test_user_falls_back_to_the_repos_git_email(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    (call,) = claude_calls(claude_case("content_blocks")).calls

    assert factory.build_json(call)["user"] == "git-user@acme.example"


def test_reading_the_same_lines_again_gives_the_same_event_ids(
    claude_case: ClaudeCopier, factory: EventFactory
) -> None:
    root = claude_case("content_blocks", "streaming_snapshot", "request_ids")

    first = {factory.build_json(c)["event_id"] for c in claude_calls(root).calls}
    second = {factory.build_json(c)["event_id"] for c in claude_calls(root).calls}

    assert first == second
    assert len(first) == 1 + 2 + 4


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws.bedrock"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "aws.bedrock"),
        ("claude-sonnet-4-5@20250929", "gcp.vertex_ai"),
        (None, "anthropic"),
    ],
)
def test_provider_follows_the_model_id_claude_code_used(
    model: str | None, provider: str
) -> None:
    assert provider_of(model) == provider
