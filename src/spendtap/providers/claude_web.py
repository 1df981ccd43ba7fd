"""The completion stream of claude.ai's web app (read by ``web_chat``).

``POST /api/organizations/{org}/chat_conversations/{id}/completion`` (and
``/retry_completion``) answers with server-sent events shaped like the Messages
API's (``message_start``, ``content_block_delta``, ``message_delta``,
``message_stop``, plus ``message_limit``), without usage; older streams sent
``completion`` events holding the next piece of text. Only the sizes of generated
text are counted, never the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from spendtap.event import CallStatus, UsageSource
from spendtap.providers.base import ParsedCall
from spendtap.providers.framing import (
    as_object,
    as_text,
    error_type_of,
    load_json_object,
)
from spendtap.providers.sse import ServerSentEvent
from spendtap.providers.text_estimate import TextTally, utf8_length

#: Delta kinds, and whether their text is thinking (True) or the answer (False).
DELTA_TEXT_FIELDS = {
    "text_delta": ("text", False),
    "input_json_delta": ("partial_json", False),
    "thinking_delta": ("thinking", True),
}


def claude_prompt_bytes(body: Mapping[str, Any] | None) -> int | None:
    """The size of what the user sent: the prompt and any attached text.

    None when the request holds no prompt (a retry resends nothing): the input is
    then unknown, not zero.
    """
    if body is None or not isinstance(body.get("prompt"), str):
        return None
    attachments = body.get("attachments")
    attached = sum(
        utf8_length(a.get("extracted_content"))
        for a in (attachments if isinstance(attachments, list) else [])
        if isinstance(a, dict)
    )
    return utf8_length(body.get("prompt")) + attached


class ClaudeWebStream:
    """The events of one claude.ai completion."""

    def __init__(self, template: ParsedCall, prompt_bytes: int | None) -> None:
        self._template = template
        self._prompt_bytes = prompt_bytes
        self._tally = TextTally()
        self._model: str | None = None
        self._response_id: str | None = None
        self._stopped = False
        self._errored = False
        self._error: str | None = None

    @property
    def content_started(self) -> bool:
        return self._tally.seen

    def on_event(self, event: ServerSentEvent) -> None:
        data = load_json_object(event.data)
        if data is None:
            return
        match as_text(data.get("type")) or event.event:
            case "message_start":
                self._start(as_object(data.get("message")))
            case "content_block_delta":
                self._delta(as_object(data.get("delta")))
            case "message_stop":
                self._stopped = True
            case "completion":
                self._completion(data)
            case "error":
                self._errored = True
                self._error = self._error or error_type_of(data)

    def result(self, *, complete: bool) -> ParsedCall:
        usage = self._tally.usage(self._prompt_bytes, ended=self._stopped)
        return dataclasses.replace(
            self._template,
            status=self._status(),
            error_type=self._error,
            usage=usage,
            usage_source=UsageSource.ABSENT
            if usage.is_empty
            else UsageSource.ESTIMATED,
            model=self._model,
            response_id=self._response_id,
        )

    def _start(self, message: Mapping[str, Any]) -> None:
        self._model = as_text(message.get("model")) or self._model
        self._response_id = (
            as_text(message.get("uuid"))
            or as_text(message.get("id"))
            or self._response_id
        )

    def _delta(self, delta: Mapping[str, Any]) -> None:
        field = DELTA_TEXT_FIELDS.get(str(delta.get("type")))
        if field is None:
            return
        name, thinking = field
        if thinking:
            self._tally.add_thinking(delta.get(name))
        else:
            self._tally.add_answer(delta.get(name))

    def _completion(self, data: Mapping[str, Any]) -> None:
        self._model = as_text(data.get("model")) or self._model
        self._response_id = as_text(data.get("id")) or self._response_id
        self._tally.add_answer(data.get("completion"))
        self._stopped |= as_text(data.get("stop_reason")) is not None

    def _status(self) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        return CallStatus.OK if self._stopped else CallStatus.TRUNCATED
