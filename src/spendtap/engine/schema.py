"""The ingest batch as the API accepts it, and its translation to usage events.

A batch is ``{"events": [...]}``; each event has exactly the fields of
:data:`spendtap.event.EVENT_FIELDS` (null where unknown). Any problem rejects the whole
batch with every problem found listed (up to :data:`MAX_LISTED_PROBLEMS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from spendtap.engine.body import too_large
from spendtap.engine.http_errors import ApiError, ErrorCode, Problem
from spendtap.engine.money import usd_from_json_number
from spendtap.engine.timestamps import EXAMPLE, parse_bounded
from spendtap.event import (
    AuthKind,
    CallStatus,
    CaptureSource,
    CostStatus,
    UsageEvent,
    UsageSource,
)

MAX_INT = 2**53 - 1
MAX_TEXT = 2048
MAX_EVENT_ID = 256
MAX_COST_USD = 1_000_000
MAX_LISTED_PROBLEMS = 50
#: Text without NUL (U+0000): PostgreSQL cannot store it, so neither store takes it.
NO_NUL = "^[^\\u0000]*$"


def check_time(value: str) -> str:
    try:
        parse_bounded(value)
    except ValueError as exc:
        raise PydanticCustomError("rfc3339", "{why}", {"why": str(exc)}) from exc
    return value


Count = Annotated[int, Field(ge=0, le=MAX_INT)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)]
Text = Annotated[str, Field(max_length=MAX_TEXT, pattern=NO_NUL)]
Time = Annotated[
    str,
    Field(max_length=64, json_schema_extra={"format": "date-time"}),
    AfterValidator(check_time),
]
Usd = Annotated[float, Field(ge=0, le=MAX_COST_USD, allow_inf_nan=False)]


class EventIn(BaseModel):
    """One usage event on the wire (DESIGN.md, "The usage event")."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_id: Annotated[
        str, Field(min_length=1, max_length=MAX_EVENT_ID, pattern=NO_NUL)
    ]
    capture_source: CaptureSource
    provider: Name
    api: Name
    model_requested: Text | None
    model: Text | None
    region: Text | None
    streaming: bool
    status: CallStatus
    http_status: HttpStatus | None
    error_type: Text | None
    input_tokens: Count | None
    cache_read_tokens: Count | None
    cache_write_5m_tokens: Count | None
    cache_write_1h_tokens: Count | None
    output_tokens: Count | None
    reasoning_tokens: Count | None
    web_search_requests: Count | None
    usage_source: UsageSource
    cost_usd: Usd | None
    cost_status: CostStatus
    price_ref: Text | None
    started_at: Time
    ended_at: Time | None
    ttft_ms: Count | None
    duration_ms: Count | None
    request_id: Text | None
    response_id: Text | None
    user: Text | None
    os_user: Text | None
    device_id: Text | None
    hostname: Text | None
    agent: Text | None
    agent_version: Text | None
    process: Text | None
    pid: Count | None
    repo: Text | None
    branch: Text | None
    commit: Text | None
    ticket: Text | None
    session_id: Text | None
    auth_kind: AuthKind | None
    credential_hint: Text | None
    agent_cost_usd: Usd | None = None
    """The cost the agent itself reported (optional: older collectors omit it)."""

    def to_event(self) -> UsageEvent:
        values: dict[str, Any] = dict(self)
        if self.cost_usd is not None:
            values["cost_usd"] = usd_from_json_number(self.cost_usd)
        if self.agent_cost_usd is not None:
            values["agent_cost_usd"] = usd_from_json_number(self.agent_cost_usd)
        return UsageEvent(**values)


class BatchIn(BaseModel):
    """The body of ``POST /v1/events``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    events: list[EventIn]


def batch_schemas() -> dict[str, Any]:
    """BatchIn and EventIn as OpenAPI component schemas (for the spec's components)."""
    schema = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["BatchIn"] = schema
    return components


def _one_of(values: Sequence[str]) -> str:
    return "one of " + ", ".join(f'"{v}"' for v in values)


_COUNT = "a non-negative integer, or null when unknown"
_TEXT = f"a string of at most {MAX_TEXT} characters without NUL, or null when unknown"
_TIME = f"an RFC 3339 time with a zone, like {EXAMPLE}"

#: What each field takes, in words: the base of every message and fix.
EXPECTED: Mapping[str, str] = {
    "event_id": f"a non-empty string of at most {MAX_EVENT_ID} characters, no NUL",
    "capture_source": _one_of(list(CaptureSource)),
    "provider": 'a non-empty string such as "anthropic"',
    "api": 'a non-empty string such as "messages"',
    "streaming": "true or false",
    "status": _one_of(list(CallStatus)),
    "http_status": "an HTTP status code (100-599), or null",
    "usage_source": _one_of(list(UsageSource)),
    "cost_usd": f"a number of US dollars from 0 to {MAX_COST_USD}, or null if unpriced",
    "cost_status": _one_of(list(CostStatus)),
    "agent_cost_usd": f"a number of US dollars from 0 to {MAX_COST_USD}, or null",
    "started_at": _TIME,
    "ended_at": _TIME + ", or null",
    "auth_kind": _one_of(list(AuthKind)) + ", or null",
    **dict.fromkeys(
        (
            "input_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
            "reasoning_tokens",
            "web_search_requests",
            "ttft_ms",
            "duration_ms",
            "pid",
        ),
        _COUNT,
    ),
}


def parse_batch(body: bytes, max_events: int) -> list[UsageEvent]:
    """The usage events in a batch body; ApiError (422 or 413) if any is wrong."""
    try:
        batch = BatchIn.model_validate_json(body)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        raise _rejected(problems) from exc
    if len(batch.events) > max_events:
        raise too_large(f"{len(batch.events)} events", max_events, "events")
    _reject_inconsistent(batch.events)
    return [event.to_event() for event in batch.events]


def _reject_inconsistent(events: Sequence[EventIn]) -> None:
    problems = [
        Problem(
            message=f"cost_usd is {_short(event.cost_usd)} but cost_status is "
            f'"{event.cost_status}"',
            fix='send cost_usd null exactly when cost_status is "unpriced"',
            index=index,
            field="cost_usd",
        )
        for index, event in enumerate(events)
        if (event.cost_usd is None) != (event.cost_status is CostStatus.UNPRICED)
    ]
    if problems:
        raise _rejected(problems)


def _rejected(problems: Sequence[Problem]) -> ApiError:
    listed = tuple(problems[:MAX_LISTED_PROBLEMS])
    first = listed[0]
    where = f"events[{first.index}]." if first.index is not None else ""
    others = len(problems) - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    message = (
        f"batch rejected, nothing was stored: {where}{first.message}{more}; "
        f"fix: {first.fix}"
    )
    return ApiError(422, ErrorCode.INVALID_BATCH, message, listed)


def _problem(error: ErrorDetails) -> Problem:
    loc = error["loc"]
    if len(loc) >= 3 and loc[0] == "events" and isinstance(loc[1], int):
        return _event_problem(loc[1], str(loc[2]), error)
    if len(loc) == 2 and loc[0] == "events" and isinstance(loc[1], int):
        return Problem(
            message=f"the event is not a JSON object (got {_short(error['input'])})",
            fix="send each event as a JSON object with the usage event fields",
            index=loc[1],
        )
    return _batch_problem(loc, error)


def _event_problem(index: int, field: str, error: ErrorDetails) -> Problem:
    expected = EXPECTED.get(field, _TEXT)
    if error["type"] == "extra_forbidden":
        message = f"unknown field {field!r}"
        fix = "remove it: an event has exactly the usage event fields (/openapi.json)"
    elif error["type"] == "missing":
        message = f"field {field!r} is missing"
        fix = f"add it: {expected}"
    elif error["type"] == "string_pattern_mismatch":  # the only pattern: NO_NUL
        message = f"{field} holds a NUL character (U+0000), which no store can keep"
        fix = f"drop the NUL from it at the source; send {expected}"
    else:
        message = f"{field} is {_short(error['input'])}: {error['msg']}"
        fix = f"send {expected}"
    return Problem(message=message, fix=fix, index=index, field=field)


def _batch_problem(loc: tuple[int | str, ...], error: ErrorDetails) -> Problem:
    fix = 'send a JSON object {"events": [...]} with one object per usage event'
    if error["type"] == "json_invalid":
        message = f"the body is not valid JSON: {error['msg']}"
    elif not loc:
        message = f"the body is not a JSON object (got {_short(error['input'])})"
    elif error["type"] == "extra_forbidden":
        message = f"unknown top-level field {loc[0]!r}"
    elif error["type"] == "missing":
        message = 'the body has no "events" list'
    else:
        message = f'"events" is {_short(error["input"])}: {error["msg"]}'
    field = str(loc[0]) if loc else None
    return Problem(message=message, fix=fix, field=field)


def _short(value: object, limit: int = 60) -> str:
    """A short JSON rendering of an offending value (values carry no content)."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
