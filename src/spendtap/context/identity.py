"""Who made a call: the configured user, else the agent's account, else git, else OS.

Agents that sign in keep the account's email on disk, beside their credentials:

- Claude Code: ``oauthAccount.emailAddress`` in ``<home>/.claude.json`` (or in
  ``$CLAUDE_CONFIG_DIR/.claude.json``).
- Codex CLI: an OpenID ``id_token`` in ``$CODEX_HOME/auth.json`` (default
  ``<home>/.codex``); only the ``email`` claim of its payload is read.

Only the email leaves this module. Tokens are read into a local variable, decoded
for that one claim and dropped; they are never cached, returned or logged. Files are
parsed again only when their size or modification time changes.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spendtap.context.agent import Agent
from spendtap.context.process import ProcessInfo

log = logging.getLogger(__name__)

CLAUDE_ACCOUNT_FILE = ".claude.json"
CODEX_DIR = ".codex"
CODEX_AUTH_FILE = "auth.json"
#: ~/.claude.json keeps project history too and can grow; bigger files are skipped.
MAX_ACCOUNT_FILE_BYTES = 64 * 1024 * 1024
MAX_EMAIL_CHARS = 254
OPENAI_PROFILE_CLAIM = "https://api.openai.com/profile"

AccountReader = Callable[[ProcessInfo], str | None]
EmailExtractor = Callable[[dict[str, Any]], str | None]


def resolve_user(
    configured: str | None,
    process: ProcessInfo | None,
    git_email: str | None,
    os_user: str | None,
    *,
    agent: str | None = None,
) -> str | None:
    """The identity a call is charged to, by precedence.

    ``agent`` narrows which agent's account is read (an ``Agent`` value); with
    None every known agent account is tried, Claude Code first.
    """
    if configured and configured.strip():
        return configured.strip()
    account = agent_account_email(process, agent)
    if account:
        return account
    return _clean(git_email) or _clean(os_user)


def agent_account_email(process: ProcessInfo | None, agent: str | None) -> str | None:
    """The signed-in account email the calling agent keeps on disk, if any."""
    if process is None:
        return None
    for reader in _readers_for(agent):
        email = reader(process)
        if email:
            return email
    return None


def claude_code_email(process: ProcessInfo) -> str | None:
    config_dir = process.claude_config_dir or _home(process)
    if not config_dir:
        return None
    return _email_in_file(Path(config_dir) / CLAUDE_ACCOUNT_FILE, _claude_account)


def codex_email(process: ProcessInfo) -> str | None:
    home = _home(process)
    codex_home = process.codex_home or (str(Path(home) / CODEX_DIR) if home else None)
    if not codex_home:
        return None
    return _email_in_file(Path(codex_home) / CODEX_AUTH_FILE, _codex_account)


ACCOUNT_READERS: dict[str, tuple[AccountReader, ...]] = {
    Agent.CLAUDE_CODE: (claude_code_email,),
    Agent.COWORK: (claude_code_email,),
    Agent.CODEX: (codex_email,),
}
ALL_READERS: tuple[AccountReader, ...] = (claude_code_email, codex_email)


def _readers_for(agent: str | None) -> tuple[AccountReader, ...]:
    if agent is None:
        return ALL_READERS
    return ACCOUNT_READERS.get(agent, ())


def _home(process: ProcessInfo) -> str | None:
    if process.home:
        return process.home
    if not process.username:
        return None
    user = process.username.rsplit("\\", 1)[-1]  # DOMAIN\user on Windows
    home = os.path.expanduser(f"~{user}")
    return None if home.startswith("~") else home


def _claude_account(data: dict[str, Any]) -> str | None:
    account = data.get("oauthAccount")
    return _email(account.get("emailAddress")) if isinstance(account, dict) else None


def _codex_account(data: dict[str, Any]) -> str | None:
    tokens = data.get("tokens")
    id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
    if not isinstance(id_token, str):
        return None
    claims = _jwt_claims(id_token)
    profile = claims.get(OPENAI_PROFILE_CLAIM)
    nested = profile.get("email") if isinstance(profile, dict) else None
    return _email(claims.get("email")) or _email(nested)


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _email_in_file(path: Path, extract: EmailExtractor) -> str | None:
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_size > MAX_ACCOUNT_FILE_BYTES:
        log.warning("context.identity.file_too_large path=%s", path)
        return None
    return _cached_email(str(path), info.st_mtime_ns, info.st_size, extract)


@functools.lru_cache(maxsize=32)
def _cached_email(
    path: str, mtime_ns: int, size: int, extract: EmailExtractor
) -> str | None:
    """The email ``extract`` finds in the JSON file; mtime and size key the cache.

    Only the email is cached: the parsed file, tokens included, is dropped here.
    """
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_ACCOUNT_FILE_BYTES + 1))
    except (OSError, ValueError, RecursionError):
        log.debug("context.identity.unreadable path=%s", path)
        return None
    return extract(data) if isinstance(data, dict) else None


def _email(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "@" not in text or len(text) > MAX_EMAIL_CHARS or any(c.isspace() for c in text):
        return None
    return text


def _clean(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None
