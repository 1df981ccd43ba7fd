"""The context of one call, put together for the collector.

The collector looks the client process up while the client connection is still
open (``ContextResolver.lookup_process``, once per connection) and passes the
result to ``resolve`` with the request's headers when the call has finished. Both
run on a worker thread, never on the proxy's event loop, and neither raises: a
step that fails is logged and leaves its fields None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spendtap.context.agent import AgentInfo, classify_agent
from spendtap.context.device import DeviceInfo, auth_from_headers, load_device
from spendtap.context.git import NO_GIT, GitContext, GitContextCache
from spendtap.context.identity import resolve_user
from spendtap.context.process import ProcessInfo, find_client_process
from spendtap.context.ticket import TicketMatcher
from spendtap.event import AuthKind

log = logging.getLogger(__name__)

#: Request headers that name the agent's session, in order of preference.
SESSION_HEADERS = ("x-claude-code-session-id", "session_id")


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the laptop knows about one call; field names follow the usage event."""

    user: str | None
    os_user: str | None
    device_id: str | None
    hostname: str | None
    agent: str | None
    agent_version: str | None
    process: str | None
    pid: int | None
    repo: str | None
    branch: str | None
    commit: str | None
    ticket: str | None
    session_id: str | None
    auth_kind: AuthKind | None
    credential_hint: str | None
    cwd: str | None


class ContextResolver:
    """Device, agent, git, ticket, identity and credential hint for each call.

    Raises ``ConfigError`` when built with an unwritable ``data_dir`` or an invalid
    ticket pattern; after that, nothing it does raises.
    """

    def __init__(
        self,
        data_dir: Path,
        configured_user: str | None = None,
        ticket_patterns: Sequence[str] | None = None,
    ) -> None:
        self.device: DeviceInfo = load_device(Path(data_dir))
        self.configured_user = configured_user
        self.tickets = TicketMatcher(ticket_patterns)
        self._git = GitContextCache()

    def lookup_process(
        self, client: tuple[str, int], server: tuple[str, int]
    ) -> ProcessInfo | None:
        """The local process owning ``client``'s end of its connection to ``server``."""
        return _guard("process", lambda: find_client_process(client, server), None)

    def resolve(
        self,
        process: ProcessInfo | None,
        user_agent: str | None,
        headers: Mapping[str, str],
        query: str = "",
    ) -> CallContext:
        """The context of one call. ``query`` is the request's query string."""
        lowered = {name.lower(): value for name, value in headers.items()}
        agent = _guard(
            "agent",
            lambda: classify_agent(user_agent, process, lowered),
            AgentInfo("unknown"),
        )
        git = _guard(
            "git", lambda: self._git.get(process.cwd if process else None), NO_GIT
        )
        no_auth: tuple[AuthKind | None, str | None] = (None, None)
        auth_kind, hint = _guard(
            "auth",
            lambda: auth_from_headers(lowered, self.device.credential_salt, query),
            no_auth,
        )
        os_user = (process.username if process else None) or self.device.os_user
        return CallContext(
            user=self._user(process, git, os_user, agent.agent),
            os_user=os_user,
            device_id=self.device.device_id,
            hostname=self.device.hostname,
            agent=agent.agent,
            agent_version=agent.agent_version,
            process=process.name if process else None,
            pid=process.pid if process else None,
            repo=git.repo,
            branch=git.branch,
            commit=git.commit,
            ticket=_guard(
                "ticket", lambda: self.tickets.match(git.branch, git.subject), None
            ),
            session_id=_session_id(lowered),
            auth_kind=auth_kind,
            credential_hint=hint,
            cwd=process.cwd if process else None,
        )

    def _user(
        self,
        process: ProcessInfo | None,
        git: GitContext,
        os_user: str | None,
        agent: str,
    ) -> str | None:
        return _guard(
            "identity",
            lambda: resolve_user(
                self.configured_user, process, git.git_email, os_user, agent=agent
            ),
            self.configured_user or git.git_email or os_user,
        )


def _session_id(headers: Mapping[str, str]) -> str | None:
    for name in SESSION_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            return value[:128]
    return None


def _guard[T](step: str, compute: Callable[[], T], default: T) -> T:
    """Run one context step; a fault costs its fields, never the call."""
    try:
        return compute()
    except Exception as exc:  # boundary: context must never break capture
        log.warning(
            "context.resolve.step_failed step=%s error=%s", step, type(exc).__name__
        )
        return default
