"""What the OpenAI wire formats share: reasoning models, error bodies, tool choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spendtap.simulator.wire import CallContext, ErrorKind

#: Model name prefixes that think before answering and report reasoning tokens.
REASONING_PREFIXES: tuple[str, ...] = ("o", "gpt-5")
REASONING_STEP = 32
SYSTEM_FINGERPRINT = "fp_spendtap_sim"

_ERRORS: dict[ErrorKind, tuple[str, str | None]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "not_found"),
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.OVERLOADED: ("server_error", "server_overloaded"),
}


def reasoning_tokens(model: str, prompt_tokens: int) -> int:
    """Reasoning tokens: ``32 * (1 + prompt_tokens % 4)`` for o*/gpt-5*, else 0."""
    if not model.startswith(REASONING_PREFIXES):
        return 0
    return REASONING_STEP * (1 + prompt_tokens % 4)


def error_type(kind: ErrorKind) -> str:
    return _ERRORS[kind][0]


def error_body(
    kind: ErrorKind, message: str, call: CallContext | None
) -> dict[str, Any]:
    kind_type, code = _ERRORS[kind]
    return {
        "error": {"message": message, "type": kind_type, "param": None, "code": code}
    }


def forced_tool(choice: object) -> tuple[str | None, bool]:
    """(the forced tool name or "*" for any, whether tools are disabled)."""
    if choice == "none":
        return None, True
    if choice == "required":
        return "*", False
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        name = name or choice.get("name")
        return (str(name) if name else None), False
    return None, False


def text_of(content: object, part_types: tuple[str, ...]) -> str | None:
    """The text of a message content: a string, or the text of its text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [
        str(part.get("text", ""))
        for part in content
        if isinstance(part, Mapping) and part.get("type") in part_types
    ]
    return " ".join(texts)
