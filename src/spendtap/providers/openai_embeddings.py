"""OpenAI Embeddings (``POST /v1/embeddings``), also used by Azure and compatible hosts.

An embeddings call bills input tokens only: ``usage.prompt_tokens``. Output tokens are
not reported and stay ``None``. A body holding thousands of float vectors can run to
hundreds of megabytes, so the reader does not keep it whole: bodies up to
``WHOLE_BODY_BYTES`` are parsed as JSON; past that only the first and last
``EDGE_BYTES`` are kept and the top-level ``usage`` and ``model`` are read from them
(OpenAI writes them after ``data``; other servers before it).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from spendtap.event import Api, CallStatus, Usage
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
    as_count,
)
from spendtap.providers.framing import (
    JsonBodyReader,
    as_object,
    as_text,
    call_template,
    is_success,
    load_json_object,
    path_is,
    read_error,
    usage_source,
)

PROVIDER = "openai"
HOSTS = frozenset({"api.openai.com"})

#: Bodies up to this size are parsed whole.
WHOLE_BODY_BYTES = 8 * 1024 * 1024
#: Past it, this much of the start and of the end of the body is kept.
EDGE_BYTES = 64 * 1024

_KEY = re.compile(rb'"(usage|model)"\s*:\s*')
_DECODER = json.JSONDecoder()


def read_embeddings(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return embeddings_reader(PROVIDER, request, head)


def embeddings_reader(
    provider: str,
    request: RequestInfo,
    head: ResponseHead,
    model_requested: str | None = None,
) -> ResponseReader:
    """The reader of an embeddings response billed by ``provider``."""
    template = call_template(provider, Api.EMBEDDINGS, request.json_body(), head)
    if model_requested is not None:
        template = dataclasses.replace(template, model_requested=model_requested)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    return EmbeddingsReader(template)


def embeddings_usage(raw: Mapping[str, Any]) -> Usage:
    """An embeddings ``usage`` object: prompt tokens are the whole bill."""
    return Usage(input_tokens=as_count(raw.get("prompt_tokens")))


def read_embeddings_json(template: ParsedCall, body: Mapping[str, Any]) -> ParsedCall:
    """A whole embeddings body (or the parts of it that matter)."""
    if isinstance(body.get("error"), dict):
        return read_error(template, dict(body))
    usage = embeddings_usage(as_object(body.get("usage")))
    return dataclasses.replace(
        template,
        usage=usage,
        usage_source=usage_source(usage),
        model=as_text(body.get("model")),
    )


class EmbeddingsReader:
    """Keeps a small body whole, or the two ends of a large one."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._whole = bytearray()
        self._head = b""
        self._tail = b""
        self._large = False

    @property
    def content_started(self) -> bool:
        return bool(self._whole or self._large)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if not self._large and len(self._whole) + len(data) <= WHOLE_BODY_BYTES:
            self._whole += data
            return
        if not self._large:
            self._large = True
            data = bytes(self._whole) + data
            self._whole = bytearray()
            self._head = data[:EDGE_BYTES]
        self._tail = (self._tail + data)[-EDGE_BYTES:]

    def finish(self, *, complete: bool) -> ParsedCall:
        if self._large:
            body = _edge_fields(self._head) | _edge_fields(self._tail)
        else:
            body = load_json_object(self._whole) or {}
        self._whole, self._head, self._tail = bytearray(), b"", b""
        call = read_embeddings_json(self._template, body)
        if call.status is CallStatus.OK and not complete:
            return dataclasses.replace(call, status=CallStatus.TRUNCATED)
        return call


def _edge_fields(data: bytes) -> dict[str, Any]:
    """The ``usage`` object and ``model`` string found in a piece of a large body."""
    text = data.decode("latin-1")  # one character per byte: offsets carry over
    found: dict[str, Any] = {}
    for match in _KEY.finditer(data):
        key = match.group(1).decode()
        try:
            value, _ = _DECODER.raw_decode(text, match.end())
        except (ValueError, RecursionError):
            continue
        if key == "usage" and isinstance(value, dict):
            found["usage"] = value
        elif key == "model" and isinstance(value, str):
            found["model"] = value
    return found


ROUTES: list[Route] = [
    Route(
        name="openai.embeddings",
        provider=PROVIDER,
        api=Api.EMBEDDINGS,
        path=path_is("/v1/embeddings"),
        reader=read_embeddings,
        hosts=HOSTS,
    ),
]
