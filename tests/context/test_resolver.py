from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import sys
from pathlib import Path

import pytest

from spendtap.context import resolver as resolver_module
from spendtap.context.process import ProcessInfo
from spendtap.context.resolver import CallContext, ContextResolver
from spendtap.errors import ConfigError
from spendtap.event import AuthKind, UsageEvent

from .helpers import LocalServer, git, make_repo

API_KEY = "sk-ant-api03-RESOLVER-TEST-KEY"
SESSION = "3f0c5a53-4d1e-4b55-9d6f-0d6b8a8e2c11"


def hint_of(secret: str, data_dir: Path) -> str:
    salt = bytes.fromhex((data_dir / "credential-salt").read_text().strip())
    return "h1:" + hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()[:12]


@pytest.fixture
def repo(tmp_path: Path, git_home: Path) -> Path:
    path = make_repo(tmp_path / "payments", subject="Retry declined cards")
    git(
        path,
        "remote",
        "add",
        "origin",
        "https://bot:ghp_TOKEN@github.com/acme/payments",
    )
    git(path, "config", "user.email", "dev@acme.test")
    git(path, "checkout", "-q", "-b", "feature/PAY-1423-retry")
    return path


@pytest.fixture
def claude_home(tmp_path: Path) -> Path:
    home = tmp_path / "fake-home"
    home.mkdir()
    account = {"emailAddress": "ada@acme.test", "accountUuid": "a-1"}
    (home / ".claude.json").write_text(json.dumps({"oauthAccount": account}))
    return home


def claude_code_process(cwd: Path, home: Path) -> ProcessInfo:
    return ProcessInfo(
        pid=31337,
        name="claude",
        exe="/usr/local/bin/claude",
        cwd=str(cwd),
        username="ada",
        home=str(home),
        cmdline_head=("claude",),
    )


def test_claude_code_call_gets_its_whole_context(
    tmp_path: Path, repo: Path, claude_home: Path
) -> None:
    data_dir = tmp_path / "data"
    resolver = ContextResolver(data_dir, None, None)
    headers = {
        "user-agent": "claude-cli/2.1.197 (external, cli)",
        "x-app": "cli",
        "x-claude-code-session-id": SESSION,
        "x-api-key": API_KEY,
    }

    context = resolver.resolve(
        process=claude_code_process(repo / "src", claude_home),
        user_agent=headers["user-agent"],
        headers=headers,
    )

    assert context == CallContext(
        user="ada@acme.test",
        os_user="ada",
        device_id=(data_dir / "device-id").read_text().strip(),
        hostname=resolver.device.hostname,
        agent="claude-code",
        agent_version="2.1.197",
        process="claude",
        pid=31337,
        repo="github.com/acme/payments",
        branch="feature/PAY-1423-retry",
        commit=git(repo, "rev-parse", "HEAD"),
        ticket="PAY-1423",
        session_id=SESSION,
        auth_kind=AuthKind.API_KEY,
        credential_hint=hint_of(API_KEY, data_dir),
        cwd=str(repo / "src"),
    )
    assert API_KEY not in repr(context)
    assert "ghp_TOKEN" not in repr(context)


def test_context_fields_match_the_usage_event_names() -> None:
    event_fields = {f.name for f in dataclasses.fields(UsageEvent)}
    context_fields = {f.name for f in dataclasses.fields(CallContext)} - {"cwd"}

    assert context_fields <= event_fields


def test_configured_user_and_ticket_patterns_are_used(
    tmp_path: Path, repo: Path, claude_home: Path
) -> None:
    resolver = ContextResolver(tmp_path / "data", "u-1234", [r"(?P<ticket>Retry)"])

    context = resolver.resolve(
        process=claude_code_process(repo, claude_home), user_agent=None, headers={}
    )

    assert context.user == "u-1234"
    assert context.ticket == "Retry"


def test_ticket_comes_from_commit_subject_on_a_plain_branch(
    tmp_path: Path, git_home: Path
) -> None:
    repo = make_repo(tmp_path / "web", subject="Fix login redirect (#88)")
    resolver = ContextResolver(tmp_path / "data")
    process = dataclasses.replace(claude_code_process(repo, git_home), home=None)

    context = resolver.resolve(process=process, user_agent=None, headers={})

    assert (context.branch, context.ticket) == ("main", "#88")


def test_without_a_process_only_device_and_headers_are_known(tmp_path: Path) -> None:
    resolver = ContextResolver(tmp_path / "data")
    headers = {"User-Agent": "curl/8.5.0", "Authorization": "Bearer sk-ant-oat01-T"}

    context = resolver.resolve(process=None, user_agent="curl/8.5.0", headers=headers)

    assert (context.agent, context.agent_version) == ("curl", "8.5.0")
    assert context.auth_kind is AuthKind.OAUTH
    assert context.credential_hint == hint_of("sk-ant-oat01-T", tmp_path / "data")
    assert (context.process, context.pid, context.cwd) == (None, None, None)
    assert (context.repo, context.branch, context.commit, context.ticket) == (None,) * 4
    assert context.os_user == resolver.device.os_user
    assert context.user == resolver.device.os_user


def test_query_key_is_hinted(tmp_path: Path) -> None:
    resolver = ContextResolver(tmp_path / "data")

    context = resolver.resolve(None, None, {}, query="key=AIzaSyQUERY&alt=sse")

    assert context.auth_kind is AuthKind.API_KEY
    assert context.credential_hint == hint_of("AIzaSyQUERY", tmp_path / "data")


def test_odd_input_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    resolver = ContextResolver(tmp_path / "data")
    process = ProcessInfo(
        pid=1, name="", exe=None, cwd="/no/such/dir\0x", username=None, home="\0"
    )
    headers = {"authorization": "\x00\udcff", "cookie": "=;=;", "user-agent": "\ud800"}

    with caplog.at_level(logging.WARNING):
        context = resolver.resolve(
            process=process, user_agent="\ud800", headers=headers
        )

    assert context.agent == "unknown"
    assert context.repo is None
    assert "step_failed" not in caplog.text


def test_a_failing_step_costs_its_fields_and_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(resolver_module, "classify_agent", broken)
    resolver = ContextResolver(tmp_path / "data")

    with caplog.at_level(logging.WARNING):
        context = resolver.resolve(None, "curl/8.5.0", {"x-api-key": API_KEY})

    assert context.agent == "unknown"
    assert context.auth_kind is AuthKind.API_KEY
    assert "context.resolve.step_failed step=agent error=RuntimeError" in caplog.text


def test_device_id_is_the_same_for_every_resolver_on_a_data_dir(tmp_path: Path) -> None:
    first = ContextResolver(tmp_path / "data").resolve(None, None, {})
    second = ContextResolver(tmp_path / "data").resolve(None, None, {})

    assert first.device_id == second.device_id
    assert first.device_id is not None


def test_invalid_ticket_pattern_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ticket pattern '\(' is not a valid"):
        ContextResolver(tmp_path / "data", None, ["("])


def test_process_looked_up_while_connected_feeds_resolve(
    tmp_path: Path, repo: Path, local_server: LocalServer, client_script: Path
) -> None:
    resolver = ContextResolver(tmp_path / "data")
    client = local_server.connect_child([sys.executable, str(client_script)], cwd=repo)

    process = resolver.lookup_process(client.peer, client.server)
    context = resolver.resolve(
        process=process, user_agent="Anthropic/Python 0.40.0", headers={}
    )

    assert process is not None
    assert (context.pid, context.cwd) == (client.process.pid, str(repo))
    assert (context.agent, context.agent_version) == ("sdk-python", "0.40.0")
    assert (context.repo, context.ticket) == ("github.com/acme/payments", "PAY-1423")
    assert context.user == "dev@acme.test"


def test_lookup_of_an_odd_address_gives_none(tmp_path: Path) -> None:
    resolver = ContextResolver(tmp_path / "data")

    assert resolver.lookup_process(("::1", -5), ("127.0.0.1", 0)) is None
