"""Codex rollouts: one call per response, repeats and forks counted once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from spendtap.agentlogs.codex import CodexFormat, default_roots
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.events import EventFactory
from tests.agentlogs.conftest import FIXTURES, Imported, copy_fixture, read_all

S1 = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
S2 = "0199a1b2-0000-7000-8000-000000000002"


@pytest.fixture
def rollouts(home: Path, repo: Path) -> Imported:
    sessions = copy_fixture(
        FIXTURES / "codex" / "sessions", home / ".codex" / "sessions", repo
    )
    return read_all(CodexFormat(), sessions)


def usage(call: object) -> tuple[object, ...]:
    return tuple(
        getattr(call, f)
        for f in (
            "input_tokens",
            "cache_read_tokens",
            "output_tokens",
            "reasoning_tokens",
        )
    )


def test_each_token_count_that_moves_the_total_is_one_call(rollouts: Imported) -> None:
    first, second = [c for c in rollouts.calls if c.session_id == S1][:2]

    # Responses API counts: input includes cached, output includes reasoning.
    assert usage(first) == (4000, 1000, 300, 200)
    assert usage(second) == (2000, 4000, 150, 50)
    assert (first.model, second.model) == ("gpt-5-codex", "gpt-5")
    assert first.started_at.isoformat() == "2025-10-03T08:00:09.500000+00:00"


def test_git_branch_commit_and_remote_come_from_the_session(
    rollouts: Imported, factory: EventFactory
) -> None:
    event = factory.build_json(rollouts.calls[0])

    assert event["repo"] == "github.com/acme/infra"
    assert event["branch"] == "feature/OPS-7-rotate-keys"
    assert event["ticket"] == "OPS-7"
    assert event["commit"] == "4f2c9e1d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
    assert (event["agent"], event["agent_version"]) == ("codex", "0.46.0")
    assert (event["capture_source"], event["provider"], event["api"]) == (
        "codex_log",
        "openai",
        "responses",
    )
    # gpt-5-codex at gpt-5's list price: $1.25 in, $0.125 cached, $10 out per MTok.
    expected = (4000 * Decimal("1.25") + 1000 * Decimal("0.125") + 300 * 10) / 10**6
    assert Decimal(str(event["cost_usd"])) == expected
    assert event["request_id"] is None and event["response_id"] is None


def test_older_rollouts_without_last_usage_count_the_difference_of_totals(
    rollouts: Imported,
) -> None:
    calls = [c for c in rollouts.calls if c.session_id == S2]

    assert [usage(c) for c in calls] == [(1000, 0, 100, 0), (1000, 500, 80, 0)]
    assert calls[0].model == "o4-mini"
    assert calls[0].branch == "main"


def test_repeats_and_a_forks_copy_of_its_parent_are_counted_once(
    rollouts: Imported,
) -> None:
    assert len(rollouts.calls) == 2 + 2 + 1
    assert rollouts.stats.merged_lines == 2  # the rate-limit repeat, in each file
    assert rollouts.stats.cross_file_duplicates == 2
    assert rollouts.stats.truncated_lines == 1
    forked = rollouts.calls[-1]
    assert usage(forked) == (2000, 5000, 50, 20)


def test_default_root_is_codex_home_sessions(tmp_path: Path) -> None:
    homes = AgentHomes(home=tmp_path, codex_home=tmp_path / "ch")
    assert default_roots(homes) == [tmp_path / "ch" / "sessions"]
    assert default_roots(AgentHomes(home=tmp_path)) == [
        tmp_path / ".codex" / "sessions"
    ]
