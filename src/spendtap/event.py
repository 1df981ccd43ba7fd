"""The usage event: one record per AI call (DESIGN.md, "The usage event").

Field names here are the contract for `replay --json`, the ingest API and exports.
A token count the wire did not give is ``None``, never 0.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class CaptureSource(enum.StrEnum):
    PROXY = "proxy"
    CLAUDE_CODE_LOG = "claude_code_log"
    CODEX_LOG = "codex_log"
    GEMINI_LOG = "gemini_log"
    OTLP = "otlp"
    HAR = "har"


class Api(enum.StrEnum):
    MESSAGES = "messages"
    COMPLETE = "complete"
    COUNT_TOKENS = "count_tokens"
    CHAT_COMPLETIONS = "chat_completions"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    GENERATE_CONTENT = "generate_content"
    INVOKE = "invoke"
    CONVERSE = "converse"
    REALTIME = "realtime"
    BATCH = "batch"
    WEB_CHAT = "web_chat"


class CallStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"
    TRUNCATED = "truncated"


class UsageSource(enum.StrEnum):
    PROVIDER = "provider"
    ESTIMATED = "estimated"
    ABSENT = "absent"


class CostStatus(enum.StrEnum):
    PRICED = "priced"
    ESTIMATED = "estimated"
    UNPRICED = "unpriced"


class AuthKind(enum.StrEnum):
    API_KEY = "api_key"
    OAUTH = "oauth"
    GCP = "gcp"
    AWS_SIGV4 = "aws_sigv4"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts normalised as DESIGN.md says; ``None`` where the wire was silent."""

    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    web_search_requests: int | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.input_tokens is None
            and self.cache_read_tokens is None
            and self.cache_write_5m_tokens is None
            and self.cache_write_1h_tokens is None
            and self.output_tokens is None
            and self.reasoning_tokens is None
            and self.web_search_requests is None
        )


TOKEN_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Usage))


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One AI call, as shipped to the engine. See DESIGN.md for each field."""

    event_id: str
    capture_source: CaptureSource
    provider: str
    api: str
    model_requested: str | None
    model: str | None
    region: str | None
    streaming: bool
    status: CallStatus
    http_status: int | None
    error_type: str | None
    input_tokens: int | None
    cache_read_tokens: int | None
    cache_write_5m_tokens: int | None
    cache_write_1h_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    web_search_requests: int | None
    usage_source: UsageSource
    cost_usd: Decimal | None
    cost_status: CostStatus
    price_ref: str | None
    started_at: str
    ended_at: str | None
    ttft_ms: int | None
    duration_ms: int | None
    request_id: str | None
    response_id: str | None
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
    agent_cost_usd: Decimal | None = None
    """The cost the agent itself reported (Claude Code telemetry), beside ours."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the contract (cost as a number, enums as strings)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, str):
                value = valid_utf8(value)
            out[field.name] = value
        return out


def valid_utf8(text: str) -> str:
    """``text`` with lone surrogates replaced (mitmproxy decodes odd header bytes to them)."""
    return text.encode("utf-8", "replace").decode("utf-8")


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageEvent))
