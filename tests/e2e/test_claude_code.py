"""The Claude Code CLI through the collector: agent, session, repo and branch."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from spendtap.demo.claude_code import find_claude, run_claude

BRANCH = "feature/OPS-77-rotate-keys"


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "cc@acme.example"],
        ["config", "user.name", "CC"],
        ["remote", "add", "origin", "https://bob:s3cret@github.com/Acme/infra.git"],
        ["commit", "-q", "--allow-empty", "-m", "start"],
        ["checkout", "-q", "-b", BRANCH],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    return path


def test_claude_code_calls_carry_agent_session_repo_and_branch(
    wired: Any, tmp_path: Path
) -> None:
    binary = find_claude()
    if binary is None:
        pytest.skip("the Claude Code CLI is not installed (scripts/setup installs it)")
    _collector, engine, env = wired
    repo = make_repo(tmp_path / "infra")
    home = tmp_path / "home"

    done = run_claude(binary, "Say hi.", workspace=repo, home=home, proxy_env=env)
    assert done.returncode == 0, done.stderr[-2000:]

    # The transcript's file name is the session id Claude Code used: our ground truth.
    transcripts = list((home / ".claude" / "projects").rglob("*.jsonl"))
    assert len(transcripts) == 1
    session_id = transcripts[0].stem

    engine.wait_for_calls(1, timeout=5.0)
    events = engine.rows("agent = 'claude-code'")
    assert events, engine.rows()
    for event in events:
        assert event["session_id"] == session_id
        assert event["repo"] == "github.com/Acme/infra"
        assert event["branch"] == BRANCH
        assert event["ticket"] == "OPS-77"
        assert event["agent_version"] and event["agent_version"][0].isdigit()
        assert event["process"]
        assert event["streaming"]
