"""The conversation stream of chatgpt.com's web app (read by ``web_chat``).

``POST /backend-api/conversation`` (and ``/backend-api/f/conversation``) answers with
server-sent events in one of two shapes, neither with usage:

- snapshots: each event holds the whole message so far, ``{"message": {"id",
  "author": {"role"}, "content": {"parts": [...]}, "metadata": {"model_slug"}}}``;
  a message's size is that of its latest snapshot.
- patches (``event: delta_encoding`` / ``"v1"``): a message arrives in an ``add``
  operation, then ``{"p": "/message/content/parts/0", "o": "append", "v": "..."}``
  operations; an operation that leaves out ``p`` or ``o`` repeats the last one's, and
  ``patch`` operations hold a list of them.

Only the assistant's text is counted (tool output and system messages are not
generated text), and only its size. ``[DONE]`` or ``message_stream_complete`` ends
the call; an ``error`` makes it an error.
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

DONE = "[DONE]"
ASSISTANT = "assistant"
CONTENT_PATH = "/message/content/"
THOUGHTS = "/thoughts"
STREAM_COMPLETE = "message_stream_complete"
MODEL_KEYS = ("model_slug", "resolved_model_slug")


def chatgpt_prompt_bytes(body: Mapping[str, Any] | None) -> int | None:
    """The size of the text parts of the messages the user sent."""
    if body is None:
        return None
    messages = body.get("messages")
    return sum(
        _parts_bytes(as_object(m.get("content")))
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict)
    )


def _parts_bytes(content: Mapping[str, Any]) -> int:
    parts = content.get("parts")
    return sum(utf8_length(p) for p in (parts if isinstance(parts, list) else []))


class ChatGptStream:
    """The events of one chatgpt.com conversation turn."""

    def __init__(self, template: ParsedCall, prompt_bytes: int | None) -> None:
        self._template = template
        self._prompt_bytes = prompt_bytes
        self._tally = TextTally()
        self._model: str | None = None
        self._response_id: str | None = None
        # The message being patched, and the last operation's path and kind.
        self._assistant = False
        self._path = ""
        self._op = ""
        # Snapshots: the message being shown, and its size so far.
        self._snapshot_id: str | None = None
        self._snapshot_bytes = 0
        self._done = False
        self._errored = False
        self._error: str | None = None

    @property
    def content_started(self) -> bool:
        return self._tally.seen or self._snapshot_bytes > 0

    def on_event(self, event: ServerSentEvent) -> None:
        if event.data.strip() == DONE:
            self._done = True
            return
        data = load_json_object(event.data)
        if data is None:
            return
        if data.get("error") or event.event == "error":
            self._errored = True
            self._error = self._error or error_type_of(data)
        kind = as_text(data.get("type"))
        if kind is not None:
            self._typed(kind, data)
        elif isinstance(data.get("message"), dict):
            self._snapshot(as_object(data.get("message")))
        elif {"p", "o", "v"} & data.keys():
            self._operation(data)

    def result(self, *, complete: bool) -> ParsedCall:
        self._tally.answer_bytes += self._snapshot_bytes
        self._snapshot_bytes = 0
        usage = self._tally.usage(self._prompt_bytes, ended=self._done)
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

    def _typed(self, kind: str, data: Mapping[str, Any]) -> None:
        if kind == STREAM_COMPLETE:
            self._done = True
        elif kind == "error":
            self._errored = True
        else:
            self._take_model(as_object(data.get("metadata")))

    def _snapshot(self, message: Mapping[str, Any]) -> None:
        if not self._start_message(message):
            return
        message_id = as_text(message.get("id"))
        size = _parts_bytes(as_object(message.get("content")))
        if message_id != self._snapshot_id:
            self._tally.answer_bytes += self._snapshot_bytes
            self._snapshot_id, self._snapshot_bytes = message_id, 0
        self._snapshot_bytes = max(self._snapshot_bytes, size)

    def _operation(self, op: Mapping[str, Any]) -> None:
        path = op["p"] if isinstance(op.get("p"), str) else self._path
        kind = op["o"] if isinstance(op.get("o"), str) else self._op
        self._path, self._op = path, kind
        self._apply(path, kind, op.get("v"))

    def _apply(
        self, path: str, kind: str, value: object, *, nested: bool = False
    ) -> None:
        if kind == "patch" and isinstance(value, list) and not nested:
            for step in value:  # steps are plain operations, never patches again
                if isinstance(step, dict) and isinstance(step.get("p"), str):
                    self._apply(
                        step["p"], str(step.get("o")), step.get("v"), nested=True
                    )
        elif kind == "add" and not path and isinstance(value, dict):
            message = as_object(value.get("message"))
            if self._start_message(message):
                content = as_object(message.get("content"))
                self._tally.answer_bytes += _parts_bytes(content)
        elif kind == "append" and path.startswith(CONTENT_PATH) and self._assistant:
            if THOUGHTS in path:
                self._tally.add_thinking(value)
            else:
                self._tally.add_answer(value)

    def _start_message(self, message: Mapping[str, Any]) -> bool:
        """Take a message's author and model; True when it is the assistant's."""
        role = as_text(as_object(message.get("author")).get("role"))
        self._assistant = role == ASSISTANT
        if self._assistant:
            self._take_model(as_object(message.get("metadata")))
            self._response_id = self._response_id or as_text(message.get("id"))
        return self._assistant

    def _take_model(self, metadata: Mapping[str, Any]) -> None:
        for key in MODEL_KEYS:
            self._model = as_text(metadata.get(key)) or self._model

    def _status(self) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        return CallStatus.OK if self._done else CallStatus.TRUNCATED
