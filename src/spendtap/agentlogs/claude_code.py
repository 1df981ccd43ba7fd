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

Lines are looked at as bytes first: user lines (prompts, tool results: most of the
bytes) are recognised by their first keys and a line without ``"usage"`` is not a
response; neither is decoded. A response line is decoded by msgspec into the few
fields a call needs, which skips its content blocks (the bulk of it) without
building them; a line msgspec will not take that way (a ``message`` that is no
object, a lone UTF-16 surrogate) is decoded whole and then looked at, so JSON is
read however it is spaced or ordered, and timestamps with any fraction of a second,
an offset or none. A line nesting arrays and objects more than ``MAX_DEPTH`` deep is
invalid, however deep the decoder could go from where it is called.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from spendtap.agentlogs.call import AgentCall, Counts, usage_counts
from spendtap.agentlogs.context import AgentHomes
from spendtap.agentlogs.lines import Lines
from spendtap.agentlogs.stats import ImportStats
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.context.agent import Agent
from spendtap.event import Api, CallStatus, CaptureSource, Usage
from spendtap.providers.anthropic_usage import anthropic_usage, usage_region

if TYPE_CHECKING:
    from spendtap.agentlogs.events import EventFactory
    from spendtap.agentlogs.importer import EventReader

log = logging.getLogger(__name__)

PROJECTS_DIR = "projects"
#: The model Claude Code names on messages it wrote itself.
SYNTHETIC_MODEL = "<synthetic>"
#: ``gitBranch`` outside a repository or on a detached HEAD: the branch is unknown.
UNKNOWN_BRANCH = "HEAD"
#: Seconds without a new line before a followed response is taken as finished.
SETTLE_S = 2.0
_USAGE_MARK = b'"usage"'
_USER_MARK = b'"type":"user"'
_MESSAGE_MARK = b'"message":'
#: A JSON escape of a UTF-16 surrogate (only valid in a pair).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: How far into a line its top-level keys ahead of ``message`` are looked for.
_HEAD_BYTES = 512
#: The largest token count taken (the engine's limit); JSON allows any integer.
MAX_COUNT = 2**63 - 1
#: A line nesting arrays and objects deeper than this is not read (invalid).
MAX_DEPTH = 1024
#: A JSON string (skipped whole) or a bracket.
_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class _Message(msgspec.Struct, gc=False):
    """What a call needs of a line's ``message``: its content blocks are skipped."""

    id: Any = None
    model: Any = None
    usage: Any = None


class _Line(msgspec.Struct, rename="camel", gc=False):
    """What a call needs of a transcript line. Values are taken as they are
    (``Any``) and their types checked where they are used, as for a line decoded
    whole; only a ``message`` that is no object sends a line the slow way."""

    type: Any = None
    message: _Message | None = None
    timestamp: Any = None
    request_id: Any = None
    session_id: Any = None
    version: Any = None
    cwd: Any = None
    git_branch: Any = None
    is_api_error_message: Any = None


LINE_DECODER = msgspec.json.Decoder(_Line)


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
    """The lines of one response seen so far in one file: the winning line, decoded
    without its content blocks, and the first and last of their timestamps."""

    message_id: str
    request_id: str | None
    output: int
    record: _Line
    #: The first and last of its lines' timestamps, as written.
    first_at: str
    last_at: str
    #: Whether every timestamp of its lines is canonical (they then sort as text).
    canonical: bool
    touched: float
    #: Another response with the same message id but a different request id.
    sibling: _Response | None = None

    def find(self, request_id: str | None) -> _Response | None:
        response: _Response | None = self
        while response is not None:
            if (
                response.request_id == request_id
                or response.request_id is None
                or request_id is None
            ):
                return response
            response = response.sibling
        return None


class ClaudeCodeFormat:
    """Claude Code transcripts; one object per import, shared by its files."""

    name = "claude-code"
    source = CaptureSource.CLAUDE_CODE_LOG

    def __init__(self, stats: ImportStats | None = None) -> None:
        self.stats = stats or ImportStats()
        #: message id -> request ids already emitted (cross-file de-duplication).
        self._emitted: dict[str, str | list[str | None] | None] = {}
        self._deferred = False

    def discover(self, root: Path) -> list[Path]:
        """Transcript files under ``root``, oldest first (copies come after originals)."""
        return sorted_by_age(root.rglob("*.jsonl")) if root.is_dir() else []

    def defer_claims(self) -> None:
        """Emit every response, copies too: another process claims them in order."""
        self._deferred = True

    def open(self, path: Path) -> TranscriptFile:
        return TranscriptFile(self, path)

    def event_reader(self, factory: EventFactory) -> EventReader | None:
        """The compiled backfill reader, where it is built."""
        from spendtap.agentlogs import claude_code_backfill

        return claude_code_backfill.event_reader(self, factory)

    def claim(self, message_id: str, request_id: str | None) -> bool:
        """True the first time a response is emitted, False for a copy of it."""
        if self._deferred:
            return True
        emitted = self._emitted
        if message_id not in emitted:
            emitted[message_id] = request_id
            return True
        taken = emitted[message_id]
        others = taken if isinstance(taken, list) else [taken]
        if request_id is None or any(o is None or o == request_id for o in others):
            return False
        emitted[message_id] = [*others, request_id]
        return True


class TranscriptFile:
    """One transcript being read: the responses seen in it, not yet emitted."""

    def __init__(self, fmt: ClaudeCodeFormat, path: Path) -> None:
        self._format = fmt
        self._stats = fmt.stats
        self.path = path
        self._pending: dict[str, _Response] = {}

    def feed(self, lines: Lines) -> None:
        """Take lines; this loop sees every line of a backfill, so it is kept flat.

        Most bytes are prompts and tool results (``user`` lines), told apart by
        their first bytes, and a line without ``"usage"`` is no response: neither
        is cut out of the chunk or decoded. A response line is decoded without its
        content blocks (see ``read_line``).
        """
        data, at, end = lines.data, lines.start, lines.end
        find, rfind = data.find, data.rfind
        count = invalid = 0
        now = time.monotonic()
        while at < end:
            stop = find(b"\n", at, end)  # every line of ``lines`` ends with one
            count += 1
            start, at = at, stop + 1
            head = find(_MESSAGE_MARK, start, min(start + _HEAD_BYTES, stop))
            if head > start and find(_USER_MARK, start, head) >= 0:
                continue
            if rfind(_USAGE_MARK, start, stop) < 0:
                continue
            record = read_line(data[start:stop])
            if record is None:
                invalid += 1
            else:
                self._take(record, now)
        self._stats.lines += count
        if invalid:
            self._stats.invalid_lines += invalid
            warn_invalid(self.path, invalid)

    def feed_tail(self, tail: bytes) -> bool:
        """The file's unterminated last line; False when it is cut short."""
        if not tail.strip():
            return True
        record = read_line(tail)
        if record is None:
            self._stats.truncated_lines += 1
            warn_truncated(self.path)
            return False
        self._stats.lines += 1
        self._take(record, time.monotonic())
        return True

    def settle(self, *, final: bool) -> list[AgentCall]:
        """Responses that are finished: all of them when the file is read to its end
        (``final``), else those without a new line for ``SETTLE_S`` seconds."""
        calls: list[AgentCall] = []
        if final:
            pending = self._pending
            self._pending = {}
            for response in pending.values():
                self._emit_all(response, calls)
            return calls
        cutoff = time.monotonic() - SETTLE_S
        for message_id, response in list(self._pending.items()):
            if response.touched <= cutoff:
                del self._pending[message_id]
                self._emit_all(response, calls)
        return calls

    def _take(self, record: _Line, now: float) -> None:
        """A decoded line: merged if it is an API response, else ignored."""
        message = record.message
        if record.type != "assistant" or message is None:
            return
        usage = message.usage
        if type(usage) is not dict:
            return
        message_id = message.id
        at = record.timestamp
        if type(at) is not str or not message_id or type(message_id) is not str:
            self._stats.unusable_lines += 1
            return
        canonical = is_canonical(at)
        if not is_time(at, canonical):  # checked here: a bad line costs itself only
            self._stats.unusable_lines += 1
            return
        request_id = record.request_id
        if type(request_id) is not str or not request_id:
            request_id = None
        output = _count(usage.get("output_tokens"))
        rank = -1 if output is None else output

        first = self._pending.get(message_id)
        response = first.find(request_id) if first is not None else None
        if response is None:
            added = _Response(
                message_id, request_id, rank, record, at, at, canonical, now
            )
            if first is None:
                self._pending[message_id] = added
            else:
                added.sibling, first.sibling = first.sibling, added
            return

        self._stats.merged_lines += 1
        response.touched = now
        if canonical and response.canonical:
            if at < response.first_at:
                response.first_at = at
            elif at > response.last_at:
                response.last_at = at
        else:
            response.canonical = False
            if earlier(at, response.first_at):
                response.first_at = at
            if earlier(response.last_at, at):
                response.last_at = at
        if response.request_id is None:
            response.request_id = request_id
        if rank >= response.output:  # ties: the later line wins
            response.output = rank
            response.record = record

    def _emit_all(self, response: _Response | None, calls: list[AgentCall]) -> None:
        while response is not None:
            self._emit(response, calls)
            response = response.sibling

    def _emit(self, response: _Response, calls: list[AgentCall]) -> None:
        record = response.record
        message = record.message
        assert message is not None  # only response lines are kept
        if message.model == SYNTHETIC_MODEL or record.is_api_error_message:
            self._stats.synthetic_lines += 1
            return
        if not self._format.claim(response.message_id, response.request_id):
            self._stats.cross_file_duplicates += 1
            return
        first, last = (
            parse_timestamp(response.first_at),
            parse_timestamp(response.last_at),
        )
        if first is None or last is None:  # a time-shaped stamp that is no time
            self._stats.unusable_lines += 1
            return
        self._stats.calls += 1
        calls.append(to_call(record, response, first, last))


def warn_invalid(path: Path, count: int) -> None:
    log.warning(
        "agentlogs.claude_code.invalid_lines path=%s count=%d "
        "(response lines that are not JSON objects; skipped)",
        path,
        count,
    )


def warn_truncated(path: Path) -> None:
    log.warning("agentlogs.claude_code.line_truncated path=%s", path)


def is_canonical(stamp: str) -> bool:
    """Whether a timestamp is written exactly as the usage event writes times
    (``2025-10-02T09:00:02.100Z``, as Claude Code does), so it sorts as text."""
    return (
        len(stamp) == 24
        and stamp[-1] == "Z"
        and stamp[19] == "."
        and stamp[10] == "T"
        and stamp[4] == stamp[7] == "-"  # not a week date (2025-W40-4T...)
        and stamp[13] == stamp[16] == ":"
    )


def is_time(stamp: str, canonical: bool) -> bool:
    """Whether ``stamp`` names a moment; ``canonical`` says it has Claude Code's
    own shape (then only its digits need checking)."""
    if not canonical:
        return parse_timestamp(stamp) is not None
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True


def earlier(a: str, b: str) -> bool:
    """Whether time ``a`` comes before time ``b`` (both known to be times)."""
    if is_canonical(a) and is_canonical(b):
        return a < b
    first, second = parse_timestamp(a), parse_timestamp(b)
    return first is not None and second is not None and first < second


def to_call(
    line: _Line, response: _Response, first: datetime, last: datetime
) -> AgentCall:
    """The call a response line describes (positional: one is made per call)."""
    message = line.message
    assert message is not None  # only response lines are kept
    usage = message.usage
    model = _text(message.model)
    branch = _text(line.git_branch)
    first_text, last_text = response.first_at, response.last_at
    return AgentCall(
        CaptureSource.CLAUDE_CODE_LOG,
        (response.message_id, response.request_id or ""),
        Agent.CLAUDE_CODE,
        provider_of(model),
        Api.MESSAGES,
        model,
        *transcript_counts(usage),
        first,
        last,
        None,
        response.request_id,
        response.message_id,
        _text(line.session_id),
        _text(line.version),
        _text(line.cwd),
        None if branch == UNKNOWN_BRANCH else branch,
        None,
        None,
        None,
        _text(usage.get("service_tier")),
        usage_region(usage) or None,
        None,
        True,
        CallStatus.OK,
        first_text if is_canonical(first_text) else None,
        last_text if is_canonical(last_text) else None,
    )


def transcript_counts(raw: dict[str, Any]) -> Counts:
    """``anthropic_usage(raw)`` as a tuple in ``Usage`` field order, computed
    directly for the common one-step shape.

    A backfill normalises tens of thousands of usage objects; this is the same
    arithmetic without the generic multi-step machinery (a property test checks
    that the two agree). Compaction steps (``iterations``) go the general way.
    """
    if raw.get("iterations"):
        counts = usage_counts(anthropic_usage(raw))
        return tuple(_count(count) for count in counts)  # type: ignore[return-value]
    write = _count(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    write_5m = write_1h = None
    if type(split) is dict:
        write_5m = _count(split.get("ephemeral_5m_input_tokens"))
        write_1h = _count(split.get("ephemeral_1h_input_tokens"))
    if write_5m is None and write_1h is None:
        write_5m = write
    elif write is not None and (write_5m or 0) + (write_1h or 0) != write:
        write_1h = min(write_1h or 0, write)
        write_5m = write - write_1h
    details = raw.get("output_tokens_details")
    tools = raw.get("server_tool_use")
    return (
        _count(raw.get("input_tokens")),
        _count(raw.get("cache_read_input_tokens")),
        write_5m,
        write_1h,
        _count(raw.get("output_tokens")),
        _count(details.get("thinking_tokens")) if type(details) is dict else None,
        _count(tools.get("web_search_requests")) if type(tools) is dict else None,
    )


def transcript_usage(raw: dict[str, Any]) -> Usage:
    """``transcript_counts`` as a ``Usage``."""
    return Usage(*transcript_counts(raw))


def _count(value: object) -> int | None:
    """``as_count`` up to ``MAX_COUNT``: a non-negative int (never a bool), else
    None."""
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def too_deep(line: bytes) -> bool:
    """Whether ``line`` nests arrays and objects more than ``MAX_DEPTH`` deep.

    How deep msgspec can go depends on how deep the caller's stack already is,
    so without this rule whether such a line is read would depend on where it
    is read from. (Counting every bracket first is cheap and nearly always
    enough.)"""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for token in _NESTING.finditer(line):
        mark = token.group()
        if mark in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif mark in (b"]", b"}"):
            depth -= 1
    return False


def read_line(line: bytes) -> _Line | None:
    """A line's call fields, without decoding its content blocks; None when the
    line is not a JSON object.

    msgspec reads the line whole (so two records run together by a crash are no
    line) and builds only the fields of ``_Line``. A line it will not take that
    way is decoded whole by ``_decode`` and its fields taken from the result: the
    two ways agree on every line both take (a property test holds them together),
    except that msgspec does not check the UTF-8 of text it skips, so a broken byte
    in a line's content does not cost the line its call.
    """
    if len(line) > 2 * MAX_DEPTH and too_deep(line):
        return None
    try:
        return LINE_DECODER.decode(line)
    except (msgspec.MsgspecError, RecursionError):  # nested too deep: orjson says
        record = _decode(line)
        return None if record is None else line_of(record)


def line_of(record: dict[str, Any]) -> _Line:
    """The call fields of a line decoded whole."""
    message = record.get("message")
    get = record.get
    return _Line(
        get("type"),
        _Message(message.get("id"), message.get("model"), message.get("usage"))
        if type(message) is dict
        else None,
        get("timestamp"),
        get("requestId"),
        get("sessionId"),
        get("version"),
        get("cwd"),
        get("gitBranch"),
        get("isApiErrorMessage"),
    )


def _decode(data: bytes) -> dict[str, Any] | None:
    """``data`` as a JSON object; None when it is not one.

    orjson refuses a lone UTF-16 surrogate escape (``\\ud83d``), which Node writes
    for an emoji cut in half; such a line is read with the standard library and the
    broken characters replaced, as a line of any other shape would be. The standard
    library is held to what orjson takes otherwise: UTF-8 without a byte order
    mark, no ``NaN`` or ``Infinity``, and nesting it can follow.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        if _SURROGATE_ESCAPE.search(data) is None:
            return None
        try:
            value = json.loads(data.decode(), parse_constant=_no_constant)
            value = _replace_surrogates(value)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None
    return value if isinstance(value, dict) else None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()
        }
    return value


def sorted_by_age(paths: Iterable[Path]) -> list[Path]:
    """The regular files of ``paths`` (not a folder or a pipe named like a log),
    oldest first by modification time, then by name."""
    stamped: list[tuple[int, str, Path]] = []
    for path in paths:
        try:
            found = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(found.st_mode):
            stamped.append((found.st_mtime_ns, str(path), path))
    return [path for _, _, path in sorted(stamped)]


def _text(value: object) -> str | None:
    return value if type(value) is str and value else None
