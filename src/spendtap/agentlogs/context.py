"""The laptop's context for calls read from agent records: device, user, repo, ticket.

A call read from a log happened in the past, so only facts that do not drift are
looked up now: the device, the repository a working directory belongs to (its
remote), and the signed-in account. The branch and commit come from the record
itself when it has them; they are never read from today's work tree.

The user is, in order: the configured user; an account the record itself names
(OTLP's ``user.email``); the account the agent keeps on disk (Claude Code's
``~/.claude.json``, Codex's ``auth.json``, Gemini CLI's ``google_accounts.json``),
never a credential; the git email of the work tree; the OS user.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.gemini_account import gemini_account_email
from spendtap.context.agent import Agent
from spendtap.context.device import DeviceInfo, load_device
from spendtap.context.git import GitContext, GitContextCache, normalise_remote
from spendtap.context.identity import claude_code_email, codex_email
from spendtap.context.process import ProcessInfo
from spendtap.context.resolver import CallContext
from spendtap.context.ticket import TicketMatcher

log = logging.getLogger(__name__)

#: A backfill asks about the same few working directories thousands of times.
GIT_CACHE_TTL_S = 600.0
#: How long an account email read from agent state is reused before a fresh read.
ACCOUNT_CACHE_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class AgentHomes:
    """Where each agent keeps its state on this laptop."""

    home: Path
    claude_config_dir: Path | None = None
    codex_home: Path | None = None
    gemini_dir: Path | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AgentHomes:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        claude = env.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
        codex = env.get("CODEX_HOME", "").strip()
        return cls(
            home=home,
            claude_config_dir=Path(claude) if claude else None,
            codex_home=Path(codex) if codex else None,
            gemini_dir=home / ".gemini",
        )

    def process(self) -> ProcessInfo:
        """The agents' owner as the identity readers expect it (no real process)."""
        return ProcessInfo(
            pid=0,
            name=None,
            exe=None,
            cwd=None,
            username=None,
            home=str(self.home),
            codex_home=str(self.codex_home) if self.codex_home else None,
            claude_config_dir=(
                str(self.claude_config_dir) if self.claude_config_dir else None
            ),
        )


class LogContext:
    """Context for calls read from agent records; safe to share between threads.

    Raises ``ConfigError`` for an unwritable ``data_dir`` or a bad ticket pattern.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        user: str | None = None,
        ticket_patterns: Sequence[str] | None = None,
        homes: AgentHomes | None = None,
    ) -> None:
        self.device: DeviceInfo = load_device(Path(data_dir))
        self.configured_user = (user or "").strip() or None
        self.tickets = TicketMatcher(ticket_patterns)
        self.homes = homes or AgentHomes.from_environment()
        self._git = GitContextCache(ttl=GIT_CACHE_TTL_S)
        self._account_cache: dict[str, tuple[float, str | None]] = {}
        self._accounts: dict[str, Callable[[], str | None]] = {
            Agent.CLAUDE_CODE: lambda: claude_code_email(self.homes.process()),
            Agent.CODEX: lambda: codex_email(self.homes.process()),
            Agent.GEMINI_CLI: lambda: gemini_account_email(self.homes.gemini_dir),
        }

    def resolve(self, call: AgentCall) -> CallContext:
        """The context of one call; never raises (what is unknown is None)."""
        git = self._git_context(call.cwd)
        repo = normalise_remote(call.remote) or git.repo
        return CallContext(
            user=self._user(call, git.git_email),
            os_user=self.device.os_user,
            device_id=self.device.device_id,
            hostname=self.device.hostname,
            agent=call.agent,
            agent_version=call.agent_version,
            process=None,
            pid=None,
            repo=repo,
            branch=call.branch,
            commit=call.commit,
            ticket=self._ticket(call.branch),
            session_id=call.session_id,
            auth_kind=None,
            credential_hint=None,
            cwd=call.cwd,
        )

    def _git_context(self, cwd: str | None) -> GitContext:
        try:
            return self._git.get(cwd)
        except Exception as exc:  # boundary: context must never cost a call
            log.warning("agentlogs.context.git_failed error=%s", type(exc).__name__)
            return GitContext()

    def _user(self, call: AgentCall, git_email: str | None) -> str | None:
        if self.configured_user:
            return self.configured_user
        if call.user:
            return call.user
        return self._account(call.agent) or git_email or self.device.os_user

    def _account(self, agent: str) -> str | None:
        now = time.monotonic()
        cached = self._account_cache.get(agent)
        if cached is not None and now - cached[0] < ACCOUNT_CACHE_TTL_S:
            return cached[1]
        email = self._read_account(agent)
        self._account_cache[agent] = (now, email)
        return email

    def _read_account(self, agent: str) -> str | None:
        reader = self._accounts.get(agent)
        if reader is None:
            return None
        try:
            return reader()
        except Exception as exc:  # boundary: an odd state file costs only the email
            log.warning(
                "agentlogs.context.account_failed agent=%s error=%s",
                agent,
                type(exc).__name__,
            )
            return None

    @functools.lru_cache(maxsize=1024)  # noqa: B019 (one context per import or receiver)
    def _ticket(self, branch: str | None) -> str | None:
        return self.tickets.match(branch)
