"""Claude Code transcripts: ``<config dir>/projects/<cwd slug>/<session id>.jsonl``.

Each line is one JSON object. An API response is an ``assistant`` line carrying
``message.id``, ``message.model``, ``message.usage`` and, from the CLI, the
response's ``requestId``; with it ``cwd``, ``gitBranch`` (``HEAD`` when there is no
branch), ``version``, ``sessionId`` and ``isSidechain`` (subagent lines, inline or
in ``<session>/subagents/*.jsonl``).

One response is often written as several lines: one per content block (thinking,
text, tool use), every one with the same ids and usage, and in some versions a
first line written while streaming, whose ``output_tokens`` is still a partial
count. Each response is counted once: **the line with the largest
``output_tokens`` wins, and among equal ones the later line**; its usage is taken
whole (fields are never mixed across lines). Lines are grouped by message id plus
request id, or by message id alone when a line has no request id. A response copied
into another file (a resumed session) is counted in the first file read (oldest
first). The call's ``started_at`` is the first of its lines' timestamps and
``ended_at`` the last.

Lines are matched on bytes first: a line without ``"usage"`` is not a response
and is not decoded. JSON is accepted however it is spaced, and timestamps with any
fraction of a second, an offset or none.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.stats import ImportStats
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.context.agent import Agent
from spendtap.event import Api, CaptureSource
from spendtap.providers.anthropic_usage import anthropic_usage, usage_region
from spendtap.providers.base import as_count

log = logging.getLogger(__name__)

PROJECTS_DIR = "projects"
#: The model Claude Code names on messages it wrote itself.
SYNTHETIC_MODEL = "<synthetic>"
#: ``gitBranch`` outside a repository or on a detached HEAD: the branch is unknown.
UNKNOWN_BRANCH = "HEAD"
#: Seconds without a new line before a followed response is taken as finished.
SETTLE_S = 2.0
_USAGE_MARK = b'"usage"'
_CONTENT_MARK = b'"content":['
_STOP_MARK = b'],"stop_reason":'


def default_roots(homes: AgentHomes) -> list[Path]:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR`` or both defaults."""
    if homes.claude_config_dir is not None:
        return [homes.claude_config_dir / PROJECTS_DIR]
    return [
        homes.home / ".config" / "claude" / PROJECTS_DIR,
        homes.home / ".claude" / PROJECTS_DIR,
    ]


def provider_of(model: str | None) -> str:
    """Who bills a model id as Claude Code names it (Bedrock, Vertex or Anthropic)."""
    name = model or ""
    if name.startswith("arn:aws:bedrock") or ".anthropic." in name:
        return "aws.bedrock"
    if name.startswith("anthropic."):
        return "aws.bedrock"
    if "@" in name:
        return "gcp.vertex_ai"
    return "anthropic"


@dataclass(slots=True)
class _Response:
    """The lines of one response seen so far in one file."""

    message_id: str
    request_id: str | None
    output: int
    usage: dict[str, Any]
    line: dict[str, Any]
    model: str | None
    first_at: datetime
    last_at: datetime
    touched: float = field(default_factory=time.monotonic)

    def matches(self, request_id: str | None) -> bool:
        return (
            self.request_id == request_id or self.request_id is None or not request_id
        )


class ClaudeCodeFormat:
    """Claude Code transcripts; one object per import, shared by its files."""

    name = "claude-code"
    source = CaptureSource.CLAUDE_CODE_LOG

    def __init__(self, stats: ImportStats | None = None) -> None:
        self.stats = stats or ImportStats()
        #: message id -> request ids already emitted (cross-file de-duplication).
        self._emitted: dict[str, list[str | None]] = {}

    def discover(self, root: Path) -> list[Path]:
        """Transcript files under ``root``, oldest first (copies come after originals)."""
        return sorted_by_age(root.rglob("*.jsonl")) if root.is_dir() else []

    def open(self, path: Path) -> TranscriptFile:
        return TranscriptFile(self, path)

    def claim(self, message_id: str, request_id: str | None) -> bool:
        """True the first time a response is emitted, False for a copy of it."""
        taken = self._emitted.setdefault(message_id, [])
        for other in taken:
            if other == request_id or other is None or request_id is None:
                return False
        taken.append(request_id)
        return True


class TranscriptFile:
    """One transcript being read: the responses seen in it, not yet emitted."""

    def __init__(self, fmt: ClaudeCodeFormat, path: Path) -> None:
        self._format = fmt
        self._stats = fmt.stats
        self.path = path
        self._pending: dict[str, list[_Response]] = {}

    def feed(self, lines: list[bytes]) -> None:
        self._stats.lines += len(lines)
        for line in lines:
            if line.rfind(_USAGE_MARK) < 0:
                continue  # not a response (most bytes are tool results)
            record = _read_response_line(line)
            if record is None:
                self._stats.invalid_lines += 1
            else:
                self._take(record)

    def feed_tail(self, tail: bytes) -> bool:
        """The file's unterminated last line; False when it is cut short."""
        if not tail.strip():
            return True
        record = _decode(tail)
        if record is None:
            self._stats.truncated_lines += 1
            log.warning("agentlogs.claude_code.line_truncated path=%s", self.path)
            return False
        self._stats.lines += 1
        self._take(record)
        return True

    def settle(self, *, final: bool) -> list[AgentCall]:
        """Responses that are finished: all of them when the file is read to its end
        (``final``), else those without a new line for ``SETTLE_S`` seconds."""
        cutoff = time.monotonic() - SETTLE_S
        calls: list[AgentCall] = []
        for message_id in list(self._pending):
            responses = self._pending[message_id]
            keep = [r for r in responses if not final and r.touched > cutoff]
            for response in responses:
                if final or response.touched <= cutoff:
                    self._emit(response, calls)
            if keep:
                self._pending[message_id] = keep
            else:
                del self._pending[message_id]
        return calls

    def _take(self, record: dict[str, Any]) -> None:
        if record.get("type") != "assistant":
            return
        message = record.get("message")
        if not isinstance(message, dict):
            return
        usage = message.get("usage")
        message_id = message.get("id")
        if not isinstance(usage, dict):
            return
        model = message.get("model")
        if model == SYNTHETIC_MODEL or record.get("isApiErrorMessage") is True:
            self._stats.synthetic_lines += 1
            return
        at = parse_timestamp(record.get("timestamp"))
        if not isinstance(message_id, str) or not message_id or at is None:
            self._stats.unusable_lines += 1
            return
        request_id = record.get("requestId")
        request_id = request_id if isinstance(request_id, str) and request_id else None
        self._merge(record, message_id, request_id, model, usage, at)

    def _merge(
        self,
        record: dict[str, Any],
        message_id: str,
        request_id: str | None,
        model: object,
        usage: dict[str, Any],
        at: datetime,
    ) -> None:
        output = as_count(usage.get("output_tokens"))
        rank = -1 if output is None else output
        known = self._pending.setdefault(message_id, [])
        response = next((r for r in known if r.matches(request_id)), None)
        if response is None:
            known.append(
                _Response(
                    message_id,
                    request_id,
                    rank,
                    usage,
                    record,
                    model if isinstance(model, str) else None,
                    at,
                    at,
                )
            )
            return

        self._stats.merged_lines += 1
        response.touched = time.monotonic()
        response.first_at = min(response.first_at, at)
        response.last_at = max(response.last_at, at)
        response.request_id = response.request_id or request_id
        if rank > response.output or (rank == response.output and usage != response.usage):
            response.output = rank
            response.usage = usage
            response.line = record
            if isinstance(model, str):
                response.model = model

    def _emit(self, response: _Response, calls: list[AgentCall]) -> None:
        if not self._format.claim(response.message_id, response.request_id):
            self._stats.cross_file_duplicates += 1
            return
        self._stats.calls += 1
        calls.append(to_call(response.line, response))


def to_call(line: Mapping[str, Any], response: _Response) -> AgentCall:
    usage = response.usage
    branch = _text(line.get("gitBranch"))
    return AgentCall(
        source=CaptureSource.CLAUDE_CODE_LOG,
        key=(response.message_id, response.request_id or ""),
        agent=Agent.CLAUDE_CODE,
        provider=provider_of(response.model),
        api=Api.MESSAGES,
        model=response.model,
        usage=anthropic_usage(usage),
        started_at=response.first_at,
        ended_at=response.last_at,
        request_id=response.request_id,
        response_id=response.message_id,
        session_id=_text(line.get("sessionId")),
        agent_version=_text(line.get("version")),
        cwd=_text(line.get("cwd")),
        branch=None if branch == UNKNOWN_BRANCH else branch,
        service_tier=_text(usage.get("service_tier")),
        region=usage_region(usage) or None,
    )


def _read_response_line(line: bytes) -> dict[str, Any] | None:
    """A response line as a JSON object, without decoding its content blocks.

    Claude Code writes ``"content":[...]`` ahead of ``"stop_reason"`` and the usage;
    the blocks are the bulk of the line and are never needed, so the line is read
    with an empty content list when it has that shape. Anything else (spaced JSON,
    another key order) is decoded whole. None when the line is not a JSON object.
    """
    start = line.find(_CONTENT_MARK)
    if start >= 0:
        stop = line.rfind(_STOP_MARK)
        if stop > start:
            record = _decode(line[: start + len(_CONTENT_MARK)] + line[stop:])
            if record is not None and _is_response(record):
                return record
    return _decode(line)


def _is_response(record: dict[str, Any]) -> bool:
    message = record.get("message")
    return isinstance(message, dict) and "id" in message and "usage" in message


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def sorted_by_age(paths: Iterable[Path]) -> list[Path]:
    """``paths`` oldest first by modification time, then by name."""
    stamped: list[tuple[int, str, Path]] = []
    for path in paths:
        try:
            stamped.append((os.stat(path).st_mtime_ns, str(path), path))
        except OSError:
            continue
    return [path for _, _, path in sorted(stamped)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
