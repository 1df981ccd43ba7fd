"""Gemini CLI chats: the last record of a message wins; rewinds are still billed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory
from spendtap.agentlogs.gemini import GeminiFormat, gemini_counts, provider_for
from tests.agentlogs.conftest import FIXTURES, Imported, copy_fixture, read_all


@pytest.fixture
def gemini_dir(home: Path, repo: Path) -> Path:
    return copy_fixture(FIXTURES / "gemini" / "dot-gemini", home / ".gemini", repo)


@pytest.fixture
def chats(gemini_dir: Path) -> Imported:
    return read_all(GeminiFormat(provider=provider_for(gemini_dir)), gemini_dir / "tmp")


def test_a_message_rewritten_with_its_tokens_is_one_call(chats: Imported) -> None:
    calls = {c.key[1]: c for c in chats.calls}

    # input 12000 with 8000 cached, plus 40 tool-use prompt tokens; 300 + 500 thoughts
    assert (
        calls["g-1"].input_tokens,
        calls["g-1"].cache_read_tokens,
        calls["g-1"].output_tokens,
        calls["g-1"].reasoning_tokens,
    ) == (4040, 8000, 800, 500)
    assert calls["g-1"].model == "gemini-2.5-pro"
    assert calls["g-2"].model == "gemini-2.5-flash"  # rewound, and still billed
    assert chats.stats.merged_lines == 1


def test_a_legacy_json_chat_and_its_migrated_copy_count_once(chats: Imported) -> None:
    legacy = [c for c in chats.calls if c.key[1] == "g-9"]

    assert len(legacy) == 1
    assert (legacy[0].input_tokens, legacy[0].output_tokens) == (2000, 120)
    assert chats.stats.cross_file_duplicates == 1
    assert len(chats.calls) == 3


def test_event_has_project_repo_vertex_provider_and_google_account(
    chats: Imported, gemini_dir: Path, home: Path, tmp_path: Path
) -> None:
    context = LogContext(
        tmp_path / "data", homes=AgentHomes(home=home, gemini_dir=gemini_dir)
    )
    event = EventFactory(context).build_json(
        next(c for c in chats.calls if c.key[1] == "g-1")
    )

    assert (event["capture_source"], event["provider"], event["api"]) == (
        "gemini_log",
        "gcp.vertex_ai",
        "generate_content",
    )
    assert event["repo"] == "github.com/Acme/payments"
    assert event["branch"] is None  # the chat does not record it
    assert event["user"] == "dev@acme.example"
    assert event["session_id"] == "abcd1234-5678-4abc-9def-0123456789ab"


def test_without_settings_the_provider_is_the_gemini_api(tmp_path: Path) -> None:
    assert provider_for(tmp_path) == "gcp.gemini"


def test_counts_without_a_prompt_figure_stay_unknown() -> None:
    assert gemini_counts({"output": 5}) == (None, None, None, None, 5, None, None)
