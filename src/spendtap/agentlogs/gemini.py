"""Gemini CLI chat records: ``~/.gemini/tmp/<project>/chats/session-*.jsonl``.

Each project's folder under ``~/.gemini/tmp`` is named by a short id (older
versions: the SHA-256 of its path) and holds ``.project_root``, the project's
path. A chat file's first line is its metadata (``sessionId``, ``projectHash``,
``startTime``); then come message records (``id``, ``timestamp``, ``type``, and
for the model's turns ``model`` and ``tokens``), ``{"$set": {...}}`` metadata
updates and ``{"$rewindTo": id}`` markers. A message is written again whole each
time it changes (its token counts often arrive after its text), so the last record
of each id wins. Older versions kept the whole conversation in one
``session-*.json`` object with a ``messages`` list; those are read too, and a
conversation migrated from one to the other is counted once (session and message
ids are kept).

``tokens`` holds Gemini's counts: ``input`` (the whole prompt, cache included),
``cached``, ``output`` (without thoughts), ``thoughts`` and ``tool`` (tool-use
prompt tokens, billed as input and not inside ``input``). A rewind hides messages
from the conversation, not from the bill: rewound calls are counted.

What the record leaves out: the branch and commit (only the project's path is
known: the repository comes from its remote), the CLI's version, and every call the
CLI makes outside the chat (its model router, next-speaker checks, summaries,
loop detection). Only the proxy sees those.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.claude_code import sorted_by_age
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.lines import Lines
from spendtap.agentlogs.stats import ImportStats
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.context.agent import Agent
from spendtap.event import Api, CaptureSource

log = logging.getLogger(__name__)

TMP_DIR = "tmp"
CHATS_DIR = "chats"
PROJECT_ROOT_FILE = ".project_root"
SETTINGS_FILE = "settings.json"
SETTLE_S = 2.0
#: How Gemini CLI signs in, as the usage event names who bills the call.
AUTH_PROVIDERS = {"vertex-ai": "gcp.vertex_ai"}
DEFAULT_PROVIDER = "gcp.gemini"


def default_roots(homes: AgentHomes) -> list[Path]:
    """``~/.gemini/tmp``, where every project's chats are."""
    return [(homes.gemini_dir or homes.home / ".gemini") / TMP_DIR]


def provider_for(gemini_dir: Path | None) -> str:
    """``gcp.vertex_ai`` when the CLI signs in to Vertex AI, else ``gcp.gemini``."""
    if gemini_dir is None:
        return DEFAULT_PROVIDER
    try:
        settings = json.loads((gemini_dir / SETTINGS_FILE).read_bytes())
    except (OSError, ValueError):
        return DEFAULT_PROVIDER
    if not isinstance(settings, dict):
        return DEFAULT_PROVIDER
    security = settings.get("security")
    auth = security.get("auth") if isinstance(security, dict) else None
    chosen = auth.get("selectedType") if isinstance(auth, dict) else None
    chosen = chosen or settings.get("selectedAuthType")
    return AUTH_PROVIDERS.get(str(chosen), DEFAULT_PROVIDER)


class GeminiFormat:
    """Gemini CLI chats; one object per import, shared by its files."""

    name = "gemini"
    source = CaptureSource.GEMINI_LOG

    def __init__(
        self, stats: ImportStats | None = None, *, provider: str = DEFAULT_PROVIDER
    ) -> None:
        self.stats = stats or ImportStats()
        self.provider = provider
        self._taken: set[tuple[str, str]] = set()

    def discover(self, root: Path) -> list[Path]:
        if not root.is_dir():
            return []
        found = [
            path
            for path in root.glob(f"*/{CHATS_DIR}/**/*")
            if path.suffix in (".jsonl", ".json") and path.is_file()
        ]
        return sorted_by_age(found)

    def open(self, path: Path) -> ChatFile:
        return ChatFile(self, path)

    def claim(self, key: tuple[str, str]) -> bool:
        if key in self._taken:
            return False
        self._taken.add(key)
        return True


@dataclass(slots=True)
class _Message:
    record: dict[str, Any]
    touched: float


class ChatFile:
    """One chat file being read: its messages, held until they stop changing."""

    def __init__(self, fmt: GeminiFormat, path: Path) -> None:
        self._format = fmt
        self._stats = fmt.stats
        self.path = path
        self._legacy = path.suffix == ".json"
        self._buffer: list[bytes] = []
        self._session_id: str | None = None
        self._cwd = _project_root(path)
        self._pending: dict[str, _Message] = {}

    def feed(self, block: Lines) -> None:
        lines = block.split()
        self._stats.lines += len(lines)
        if self._legacy:  # one JSON document over many lines
            self._buffer.extend(lines)
            return
        now = time.monotonic()
        for line in lines:
            if line.strip():
                self._take_line(line, now)

    def feed_tail(self, tail: bytes) -> bool:
        if self._legacy:
            self._buffer.append(tail)
            return True
        if not tail.strip():
            return True
        try:
            record = orjson.loads(tail)
        except orjson.JSONDecodeError:
            self._stats.truncated_lines += 1
            log.warning("agentlogs.gemini.line_truncated path=%s", self.path)
            return False
        self._stats.lines += 1
        self._take(record, time.monotonic())
        return True

    def settle(self, *, final: bool) -> list[AgentCall]:
        if self._legacy:
            if final:
                self._read_legacy()
            else:
                return []
        cutoff = time.monotonic() - SETTLE_S
        calls: list[AgentCall] = []
        for message_id, message in list(self._pending.items()):
            if final or message.touched <= cutoff:
                del self._pending[message_id]
                self._emit(message.record, calls)
        return calls

    def _take_line(self, line: bytes, now: float) -> None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            self._stats.invalid_lines += 1
            return
        self._take(record, now)

    def _take(self, record: object, now: float) -> None:
        if not isinstance(record, dict):
            return
        updates = record.get("$set")
        if isinstance(updates, dict):
            self._session_id = _text(updates.get("sessionId")) or self._session_id
            return
        if "sessionId" in record and "id" not in record:
            self._session_id = _text(record.get("sessionId")) or self._session_id
            return
        message_id = _text(record.get("id"))
        if message_id is None or record.get("type") != "gemini":
            return
        if message_id in self._pending:
            self._stats.merged_lines += 1
        self._pending[message_id] = _Message(record, now)

    def _read_legacy(self) -> None:
        data, self._buffer = b"\n".join(self._buffer), []
        try:
            conversation = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._stats.invalid_lines += 1
            log.warning("agentlogs.gemini.file_unreadable path=%s", self.path)
            return
        if not isinstance(conversation, dict):
            return
        self._session_id = _text(conversation.get("sessionId"))
        messages = conversation.get("messages")
        now = time.monotonic()
        for message in messages if isinstance(messages, list) else []:
            self._take(message, now)

    def _emit(self, record: dict[str, Any], calls: list[AgentCall]) -> None:
        tokens = record.get("tokens")
        if not isinstance(tokens, dict):
            return  # a model turn without counts (an error, or an aborted stream)
        at = parse_timestamp(record.get("timestamp"))
        message_id = str(record["id"])
        if at is None:
            self._stats.unusable_lines += 1
            return
        session = self._session_id or self.path.stem
        if not self._format.claim((session, message_id)):
            self._stats.cross_file_duplicates += 1
            return
        self._stats.calls += 1
        calls.append(
            AgentCall(
                CaptureSource.GEMINI_LOG,
                (session, message_id),
                Agent.GEMINI_CLI,
                self._format.provider,
                Api.GENERATE_CONTENT,
                _text(record.get("model")),
                *gemini_counts(tokens),
                started_at=at,
                session_id=self._session_id,
                cwd=self._cwd,
            )
        )


def gemini_counts(
    tokens: dict[str, Any],
) -> tuple[int | None, int | None, None, None, int | None, int | None, None]:
    """Gemini CLI's ``tokens`` as the usage event counts them.

    The prompt count includes the cached part, and tool-use prompt tokens come on
    top of it; thoughts are not in the output count and are added to it.
    """
    prompt, cached = _count(tokens.get("input")), _count(tokens.get("cached"))
    tool, output = _count(tokens.get("tool")), _count(tokens.get("output"))
    thoughts = _count(tokens.get("thoughts"))
    uncached = None if prompt is None else max(prompt - (cached or 0), 0) + (tool or 0)
    total_output = None if output is None else output + (thoughts or 0)
    return uncached, cached, None, None, total_output, thoughts, None


def _project_root(path: Path) -> str | None:
    """The project's path from ``.project_root`` beside the ``chats`` folder."""
    for parent in path.parents:
        if parent.name == CHATS_DIR:
            marker = parent.parent / PROJECT_ROOT_FILE
            try:
                return marker.read_text(encoding="utf-8").strip() or None
            except (OSError, UnicodeDecodeError):
                return None
    return None


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
