from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from spendtap.context.identity import agent_account_email, resolve_user
from spendtap.context.process import ProcessInfo

ID_TOKEN_SIGNATURE = "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.ACCESS-TOKEN-SECRET.sig"


def process_at(
    home: Path | None,
    *,
    codex_home: Path | None = None,
    claude_config_dir: Path | None = None,
    username: str | None = None,
) -> ProcessInfo:
    return ProcessInfo(
        pid=4242,
        name="claude",
        exe=None,
        cwd=None,
        username=username,
        home=str(home) if home else None,
        codex_home=str(codex_home) if codex_home else None,
        claude_config_dir=str(claude_config_dir) if claude_config_dir else None,
    )


def write_claude_account(directory: Path, email: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".claude.json"
    account = {"accountUuid": "a-1", "emailAddress": email, "organizationUuid": "o-1"}
    path.write_text(json.dumps({"numStartups": 3, "oauthAccount": account}))
    return path


def jwt(claims: Mapping[str, object]) -> str:
    def part(value: Mapping[str, object]) -> str:
        raw = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
        return raw.rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.{ID_TOKEN_SIGNATURE}"


def write_codex_auth(codex_home: Path, id_token: str | None) -> Path:
    codex_home.mkdir(parents=True, exist_ok=True)
    tokens = {"access_token": ACCESS_TOKEN, "refresh_token": "rt-SECRET"}
    if id_token is not None:
        tokens["id_token"] = id_token
    path = codex_home / "auth.json"
    path.write_text(json.dumps({"OPENAI_API_KEY": None, "tokens": tokens}))
    return path


def test_configured_user_wins_over_everything(tmp_path: Path) -> None:
    write_claude_account(tmp_path / "home", "ada@acme.test")

    user = resolve_user(
        "  finance-id-7 ", process_at(tmp_path / "home"), "dev@acme.test", "ada"
    )

    assert user == "finance-id-7"


def test_claude_code_account_email_from_claude_json_in_home(tmp_path: Path) -> None:
    write_claude_account(tmp_path / "home", "ada@acme.test")

    user = resolve_user(
        None, process_at(tmp_path / "home"), "dev@acme.test", "ada", agent="claude-code"
    )

    assert user == "ada@acme.test"


def test_claude_config_dir_is_read_before_home(tmp_path: Path) -> None:
    write_claude_account(tmp_path / "home", "home@acme.test")
    write_claude_account(tmp_path / "profile", "profile@acme.test")
    process = process_at(tmp_path / "home", claude_config_dir=tmp_path / "profile")

    assert agent_account_email(process, "claude-code") == "profile@acme.test"


def test_cowork_reads_the_claude_account_too(tmp_path: Path) -> None:
    write_claude_account(tmp_path / "home", "ada@acme.test")

    assert (
        agent_account_email(process_at(tmp_path / "home"), "cowork") == "ada@acme.test"
    )


def test_codex_email_comes_from_the_id_token_claim_only(tmp_path: Path) -> None:
    codex_home = tmp_path / "codex"
    write_codex_auth(codex_home, jwt({"email": "grace@acme.test", "sub": "u-1"}))
    process = process_at(tmp_path / "home", codex_home=codex_home)

    email = agent_account_email(process, "codex")

    assert email == "grace@acme.test"


def test_codex_home_defaults_to_dot_codex_in_home(tmp_path: Path) -> None:
    write_codex_auth(tmp_path / "home" / ".codex", jwt({"email": "grace@acme.test"}))

    assert (
        agent_account_email(process_at(tmp_path / "home"), "codex") == "grace@acme.test"
    )


def test_codex_email_in_openai_profile_claim(tmp_path: Path) -> None:
    claims = {"https://api.openai.com/profile": {"email": "lin@acme.test"}}
    write_codex_auth(tmp_path / "home" / ".codex", jwt(claims))

    assert (
        agent_account_email(process_at(tmp_path / "home"), "codex") == "lin@acme.test"
    )


@pytest.mark.parametrize(
    "id_token",
    [None, "not-a-jwt", "a.!!!.c", jwt({"sub": "u-1"}), jwt({"email": 42})],
)
def test_codex_without_a_usable_email_claim_gives_none(
    tmp_path: Path, id_token: str | None
) -> None:
    write_codex_auth(tmp_path / "home" / ".codex", id_token)

    assert agent_account_email(process_at(tmp_path / "home"), "codex") is None


def test_other_agents_do_not_read_agent_accounts(tmp_path: Path) -> None:
    write_claude_account(tmp_path / "home", "ada@acme.test")

    user = resolve_user(
        None, process_at(tmp_path / "home"), "dev@acme.test", "ada", agent="sdk-python"
    )

    assert user == "dev@acme.test"


def test_without_an_agent_every_account_is_tried(tmp_path: Path) -> None:
    write_codex_auth(tmp_path / "home" / ".codex", jwt({"email": "grace@acme.test"}))

    user = resolve_user(None, process_at(tmp_path / "home"), "dev@acme.test", "ada")

    assert user == "grace@acme.test"


def test_git_email_then_os_user_then_none(tmp_path: Path) -> None:
    empty_home = process_at(tmp_path / "empty-home")

    assert resolve_user(None, empty_home, "dev@acme.test", "ada") == "dev@acme.test"
    assert resolve_user("", empty_home, "  ", "ada") == "ada"
    assert resolve_user(None, None, None, "ada") == "ada"
    assert resolve_user(None, None, None, None) is None


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"oauthAccount": "text"}),
        json.dumps({"numStartups": 1}),
        json.dumps({"oauthAccount": {"emailAddress": "no-at-sign"}}),
        json.dumps({"oauthAccount": {"emailAddress": ["ada@acme.test"]}}),
    ],
)
def test_unusable_claude_json_falls_through_to_git(
    tmp_path: Path, content: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(content)

    user = resolve_user(
        None, process_at(home), "dev@acme.test", "ada", agent="claude-code"
    )

    assert user == "dev@acme.test"


def test_changed_account_file_is_read_again(tmp_path: Path) -> None:
    path = write_claude_account(tmp_path / "home", "ada@acme.test")
    process = process_at(tmp_path / "home")
    assert agent_account_email(process, "claude-code") == "ada@acme.test"

    write_claude_account(tmp_path / "home", "ada.lovelace@acme.test")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))

    assert agent_account_email(process, "claude-code") == "ada.lovelace@acme.test"


@pytest.mark.parametrize("username", ["ada", "CORP\\ada"])
def test_home_comes_from_the_user_database_when_environment_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    write_claude_account(tmp_path / "users" / "ada", "ada@acme.test")
    homes = {"~ada": str(tmp_path / "users" / "ada")}
    monkeypatch.setattr(os.path, "expanduser", lambda path: homes.get(path, path))

    found = agent_account_email(process_at(None, username=username), "claude-code")

    assert found == "ada@acme.test"


def test_unknown_user_and_no_home_gives_no_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)

    assert agent_account_email(process_at(None, username="nobody-here"), None) is None
    assert agent_account_email(process_at(None), None) is None


def test_no_process_means_no_agent_account() -> None:
    assert agent_account_email(None, "claude-code") is None
