"""Codex CLI rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``.

Each line is ``{"timestamp": ..., "type": ..., "payload": {...}}``:

- ``session_meta``: the session's ``id``, ``cwd``, ``cli_version``,
  ``model_provider`` and ``git`` (``commit_hash``, ``branch``, ``repository_url``),
  as they were when the session started;
- ``turn_context``: the ``model`` (and ``cwd``) of the turns that follow;
- ``event_msg`` with ``payload.type == "token_count"``: after each model response,
  ``info.last_token_usage`` (that response) and ``info.total_token_usage`` (the
  session so far), in the Responses API's convention: ``input_tokens`` includes
  ``cached_input_tokens`` and ``output_tokens`` includes
  ``reasoning_output_tokens``.

A ``token_count`` whose running total did not move repeats the last one (Codex
sends one when only its rate limits changed) and is not a call. Without
``last_token_usage`` (older builds) a call's usage is the difference of two
totals. A call is keyed by its session and the running total it brought the
session to, so a forked session's copy of its parent's lines, which keeps the
parent's ``session_meta``, is the same call. The rollout has no request or
response id and no start time: ``started_at`` is when the response was logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from spendtap.agentlogs.call import AgentCall, usage_counts
from spendtap.agentlogs.claude_code import sorted_by_age
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.lines import Lines
from spendtap.agentlogs.stats import ImportStats
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.context.agent import Agent
from spendtap.event import Api, CaptureSource
from spendtap.providers.openai_usage import responses_usage

log = logging.getLogger(__name__)

SESSIONS_DIR = "sessions"
ROLLOUT_GLOB = "rollout-*.jsonl"
TOKEN_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)
#: Codex ``model_provider`` ids, as the usage event names who bills the call.
PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "openrouter": "openrouter",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
}

Totals = tuple[int, ...]


def default_roots(homes: AgentHomes) -> list[Path]:
    """``$CODEX_HOME/sessions`` (default ``~/.codex/sessions``)."""
    codex_home = homes.codex_home or homes.home / ".codex"
    return [codex_home / SESSIONS_DIR]


class CodexFormat:
    """Codex rollouts; one object per import, shared by its files."""

    name = "codex"
    source = CaptureSource.CODEX_LOG

    def __init__(self, stats: ImportStats | None = None) -> None:
        self.stats = stats or ImportStats()
        self._taken: set[tuple[str, ...]] = set()

    def discover(self, root: Path) -> list[Path]:
        return sorted_by_age(root.rglob(ROLLOUT_GLOB)) if root.is_dir() else []

    def open(self, path: Path) -> RolloutFile:
        return RolloutFile(self, path)

    def claim(self, key: tuple[str, ...]) -> bool:
        """True the first time a call is emitted, False for a copy of it."""
        if key in self._taken:
            return False
        self._taken.add(key)
        return True


@dataclass(slots=True)
class _Session:
    """What the rollout said so far about the session its next lines belong to."""

    session_id: str | None = None
    cwd: str | None = None
    version: str | None = None
    provider: str = "openai"
    branch: str | None = None
    commit: str | None = None
    remote: str | None = None
    model: str | None = None
    totals: Totals | None = None
    calls: list[AgentCall] = field(default_factory=list)


class RolloutFile:
    """One rollout being read; a call is ready as soon as its line is read."""

    def __init__(self, fmt: CodexFormat, path: Path) -> None:
        self._format = fmt
        self._stats = fmt.stats
        self.path = path
        self._session = _Session()

    def feed(self, block: Lines) -> None:
        lines = block.split()
        self._stats.lines += len(lines)
        for line in lines:
            self._take_line(line)

    def feed_tail(self, tail: bytes) -> bool:
        if not tail.strip():
            return True
        try:
            record = orjson.loads(tail)
        except orjson.JSONDecodeError:
            self._stats.truncated_lines += 1
            log.warning("agentlogs.codex.line_truncated path=%s", self.path)
            return False
        self._stats.lines += 1
        self._take_record(record)
        return True

    def settle(self, *, final: bool) -> list[AgentCall]:
        calls, self._session.calls = self._session.calls, []
        return calls

    def _take_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._stats.invalid_lines += 1
            return
        self._take_record(record)

    def _take_record(self, record: object) -> None:
        if not isinstance(record, dict):
            return
        kind = record.get("type")
        payload = record.get("payload")
        if kind is None and "id" in record and "git" in record:
            self._start_session(record)  # the first line of older rollouts
        elif not isinstance(payload, dict):
            return
        elif kind == "session_meta":
            self._start_session(payload)
        elif kind == "turn_context":
            self._session.model = _text(payload.get("model")) or self._session.model
            self._session.cwd = _text(payload.get("cwd")) or self._session.cwd
        elif kind == "event_msg" and payload.get("type") == "token_count":
            self._take_count(payload, record.get("timestamp"))

    def _start_session(self, meta: dict[str, Any]) -> None:
        git = meta.get("git")
        if not isinstance(git, dict):
            git = {}
        session = self._session
        session.session_id = _text(meta.get("id")) or session.session_id
        session.cwd = _text(meta.get("cwd")) or session.cwd
        session.version = _text(meta.get("cli_version")) or session.version
        provider = _text(meta.get("model_provider"))
        if provider:
            session.provider = PROVIDERS.get(provider.lower(), provider.lower())
        session.branch = _text(git.get("branch"))
        session.commit = _text(git.get("commit_hash"))
        session.remote = _text(git.get("repository_url"))
        session.totals = None  # a new session counts from zero

    def _take_count(self, payload: dict[str, Any], stamp: object) -> None:
        info = payload.get("info")
        if not isinstance(info, dict):
            return  # rate limits only
        session = self._session
        totals = _totals(info.get("total_token_usage"))
        last = info.get("last_token_usage")
        if totals is not None and totals == session.totals:
            self._stats.merged_lines += 1
            return
        usage = last if isinstance(last, dict) else _difference(totals, session.totals)
        previous, session.totals = session.totals, totals or session.totals
        at = parse_timestamp(stamp)
        if usage is None or at is None:
            self._stats.unusable_lines += 1
            return
        key = self._key(totals, previous, at, usage)
        if not self._format.claim(key):
            self._stats.cross_file_duplicates += 1
            return
        self._stats.calls += 1
        session.calls.append(self._call(key, usage, at))

    def _key(
        self,
        totals: Totals | None,
        previous: Totals | None,
        at: datetime,
        usage: dict[str, Any],
    ) -> tuple[str, ...]:
        session = self._session.session_id or str(self.path.name)
        if totals is not None:
            return (session, *map(str, totals))
        raw = _totals(usage) or ()
        return (session, at.isoformat(), *map(str, raw))

    def _call(
        self, key: tuple[str, ...], raw: dict[str, Any], at: datetime
    ) -> AgentCall:
        session = self._session
        usage = responses_usage(
            {
                "input_tokens": raw.get("input_tokens"),
                "input_tokens_details": {
                    "cached_tokens": raw.get("cached_input_tokens")
                },
                "output_tokens": raw.get("output_tokens"),
                "output_tokens_details": {
                    "reasoning_tokens": raw.get("reasoning_output_tokens")
                },
            }
        )
        return AgentCall(
            CaptureSource.CODEX_LOG,
            key,
            Agent.CODEX,
            session.provider,
            Api.RESPONSES,
            session.model,
            *usage_counts(usage),
            started_at=at,
            session_id=session.session_id,
            agent_version=session.version,
            cwd=session.cwd,
            branch=session.branch,
            commit=session.commit,
            remote=session.remote,
        )


def _totals(raw: object) -> Totals | None:
    if not isinstance(raw, dict):
        return None
    values = [raw.get(name) for name in TOKEN_FIELDS]
    if all(v is None for v in values):
        return None
    return tuple(
        v if isinstance(v, int) and not isinstance(v, bool) else 0 for v in values
    )


def _difference(now: Totals | None, before: Totals | None) -> dict[str, Any] | None:
    """The usage between two running totals (the whole total when it is the first)."""
    if now is None:
        return None
    base = before or (0,) * len(TOKEN_FIELDS)
    if any(a < b for a, b in zip(now, base, strict=True)):
        base = (0,) * len(TOKEN_FIELDS)  # the total went back: counting restarted
    return {name: a - b for name, a, b in zip(TOKEN_FIELDS, now, base, strict=True)}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
