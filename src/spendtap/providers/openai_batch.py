"""OpenAI Batch: creating a batch, and downloading its output file.

``POST /v1/batches`` creates a batch; it is recorded as a call that is not billable
(the requests are in an uploaded file; nothing has run yet). The bill comes with the
output: ``GET /v1/files/{id}/content`` downloads a JSON Lines file whose lines hold
``custom_id`` and ``response.body``, the same body the synchronous endpoint returns.
Each line is read by that endpoint's own reader and the usage is added up
(``batch_results``). The same path serves every other file too; those hold no result
lines and are recorded as not billable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from spendtap.event import Api, CallStatus
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.batch_results import BatchResultsReader, batch_created
from spendtap.providers.framing import (
    JsonBodyReader,
    JsonParser,
    as_object,
    as_text,
    call_template,
    is_success,
    path_is,
    read_error,
)
from spendtap.providers.openai_chat import read_chat_json
from spendtap.providers.openai_embeddings import read_embeddings_json
from spendtap.providers.openai_responses import read_response_json
from spendtap.providers.route_paths import path_matches

PROVIDER = "openai"
HOSTS = frozenset({"api.openai.com"})

FILE_CONTENT = re.compile(r"/files/([^/]+)/content/?$")

#: A result body's ``object``, the API it came from, and the reader of that API.
BODY_READERS: dict[str, tuple[Api, JsonParser]] = {
    "chat.completion": (Api.CHAT_COMPLETIONS, read_chat_json),
    "response": (Api.RESPONSES, read_response_json),
    "list": (Api.EMBEDDINGS, read_embeddings_json),
}
#: A batch's ``endpoint`` (its tail: Azure leaves out ``/v1``) and its API.
ENDPOINT_APIS = (
    ("/chat/completions", Api.CHAT_COMPLETIONS),
    ("/responses", Api.RESPONSES),
    ("/embeddings", Api.EMBEDDINGS),
)


def read_batch_create(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return batch_create_reader(PROVIDER, request, head)


def read_file_content(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return batch_output_reader(PROVIDER, request, head)


def batch_create_reader(
    provider: str, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    """The reader of a batch's creation, billed (later) by ``provider``."""
    body = request.json_body() or {}
    api = endpoint_api(as_text(body.get("endpoint")))
    template = call_template(provider, api, None, head, billable=False)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    return JsonBodyReader(template, batch_created)


def batch_output_reader(
    provider: str, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    """The reader of a file download that may be a batch's output."""
    template = call_template(provider, Api.CHAT_COMPLETIONS, None, head)
    match = FILE_CONTENT.search(request.path_only)
    template = dataclasses.replace(
        template, response_id=match.group(1) if match else None
    )
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    line_template = dataclasses.replace(template, response_id=None)
    return BatchResultsReader(
        template, lambda line: read_output_line(line_template, line)
    )


def read_output_line(
    template: ParsedCall, line: Mapping[str, Any]
) -> ParsedCall | None:
    """One line of an output (or error) file; None for a line of any other file."""
    if "custom_id" not in line or not ("response" in line or "error" in line):
        return None
    response = as_object(line.get("response"))
    status = response.get("status_code")
    body = as_object(response.get("body"))
    known = BODY_READERS.get(str(body.get("object")))
    succeeded = isinstance(status, int) and is_success(status)
    if line.get("error") is not None or not succeeded or known is None:
        return dataclasses.replace(template, status=CallStatus.ERROR)
    api, read = known
    return read(dataclasses.replace(template, api=api), body)


def endpoint_api(endpoint: str | None) -> Api:
    """The API a batch runs, from its ``endpoint`` (chat completions if unknown)."""
    path = (endpoint or "").rstrip("/")
    return next(
        (api for tail, api in ENDPOINT_APIS if path.endswith(tail)),
        Api.CHAT_COMPLETIONS,
    )


ROUTES: list[Route] = [
    Route(
        name="openai.batches",
        provider=PROVIDER,
        api=Api.CHAT_COMPLETIONS,
        path=path_is("/v1/batches"),
        reader=read_batch_create,
        hosts=HOSTS,
    ),
    Route(
        name="openai.files.content",
        provider=PROVIDER,
        api=Api.CHAT_COMPLETIONS,
        path=path_matches(r"/v1/files/[^/]+/content"),
        reader=read_file_content,
        hosts=HOSTS,
        methods=frozenset({"GET"}),
    ),
]
