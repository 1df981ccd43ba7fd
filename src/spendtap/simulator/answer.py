"""What the simulator answers: a few words of text, or one tool call.

The answer depends only on the request. Text has ``5 + prompt_tokens % 11`` words
(cut to ``max_tokens``), one output token per word. A tool call is chosen when the
request offers tools, the last turn is the user's text and tool choice allows it: the
tool the request forces, else the first tool whose name the user's text mentions, else
the first tool. Requests from coding agents (``x-app`` or ``originator`` header, as
Claude Code and Codex send) always get text, so an agent never runs a tool because of
the simulator. Arguments fill the schema's required properties with plain values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spendtap.simulator.tokens import bytes_to_tokens

VOCABULARY: tuple[str, ...] = (
    "Simulated",
    "answer",
    "from",
    "the",
    "spendtap",
    "provider",
    "simulator,",
    "counting",
    "every",
    "token",
    "honestly.",
)
BASE_WORDS = 5
WORD_SPREAD = 11
#: Tokens a tool call costs on top of its argument bytes // 4.
TOOL_CALL_OVERHEAD = 8
#: Header names that mark a request from a coding agent.
AGENT_HEADERS: tuple[str, ...] = ("x-app", "originator")

_PLACEHOLDERS: dict[str, object] = {
    "string": "spendtap",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}


@dataclass(frozen=True, slots=True)
class ToolOffer:
    name: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text

    @property
    def tokens(self) -> int:
        return TOOL_CALL_OVERHEAD + bytes_to_tokens(self.arguments)


@dataclass(frozen=True, slots=True)
class Answer:
    """Words of text (a token each) or one tool call; whether max_tokens cut it."""

    words: tuple[str, ...]
    tool_call: ToolCall | None
    hit_max_tokens: bool

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def output_tokens(self) -> int:
        return len(self.words) + (self.tool_call.tokens if self.tool_call else 0)

    def text_deltas(self) -> list[str]:
        """The text as a stream sends it: the first word, then " word" each."""
        return [w if i == 0 else f" {w}" for i, w in enumerate(self.words)]


@dataclass(frozen=True, slots=True)
class Turn:
    """What the answer depends on, read from a request by a wire module."""

    prompt_tokens: int
    max_tokens: int | None
    tools: tuple[ToolOffer, ...]
    forced_tool: str | None  # a tool name, or "*" for any tool
    tools_disabled: bool
    last_user_text: str | None  # None when the last turn is a tool result
    from_agent: bool


def is_agent_request(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in AGENT_HEADERS)


def make_answer(turn: Turn) -> Answer:
    tool = _pick_tool(turn)
    if tool is not None:
        return Answer((), ToolCall(tool.name, _arguments(tool.schema)), False)

    count = BASE_WORDS + turn.prompt_tokens % WORD_SPREAD
    capped = count if turn.max_tokens is None else max(0, min(count, turn.max_tokens))
    words = tuple(VOCABULARY[i % len(VOCABULARY)] for i in range(capped))
    return Answer(words, None, capped < count)


def _pick_tool(turn: Turn) -> ToolOffer | None:
    if not turn.tools or turn.tools_disabled or turn.last_user_text is None:
        return None
    if turn.forced_tool not in (None, "*"):
        return next((t for t in turn.tools if t.name == turn.forced_tool), None)
    if turn.from_agent and turn.forced_tool is None:
        return None
    named = [t for t in turn.tools if t.name and t.name in turn.last_user_text]
    return named[0] if named else turn.tools[0]


def _arguments(schema: Mapping[str, Any]) -> str:
    properties = schema.get("properties")
    required = schema.get("required")
    args: dict[str, object] = {}
    if isinstance(properties, dict) and isinstance(required, list):
        for name in required:
            spec = properties.get(name)
            kind = spec.get("type") if isinstance(spec, dict) else None
            args[str(name)] = _PLACEHOLDERS.get(str(kind), "spendtap")
    return json.dumps(args, separators=(",", ":"))


def tool_offers(
    tools: Sequence[Any], *, nested_function: bool
) -> tuple[ToolOffer, ...]:
    """Function tools from a request's ``tools`` list.

    Anthropic and the Responses API give ``{"name", "input_schema"|"parameters"}``;
    Chat Completions nests them under ``"function"``. Server tools are left out.
    """
    offers: list[ToolOffer] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if nested_function else tool
        kind = tool.get("type")
        if not isinstance(spec, dict) or kind not in (None, "custom", "function"):
            continue
        name = spec.get("name")
        schema = spec.get("input_schema", spec.get("parameters"))
        if isinstance(name, str):
            offers.append(ToolOffer(name, schema if isinstance(schema, dict) else {}))
    return tuple(offers)
