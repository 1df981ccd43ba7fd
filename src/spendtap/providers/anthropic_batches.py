"""Anthropic Message Batches: creating a batch, and downloading its results.

``POST /v1/messages/batches`` creates a batch: recorded, not billable (nothing has run
yet; the request body, which can be large, is not decoded). ``GET
/v1/messages/batches/{id}/results`` streams JSON Lines, one per request:
``{"custom_id", "result": {"type": "succeeded", "message": {...}}}``, or a result of
type ``errored``, ``canceled`` or ``expired`` that carries no usage. Each succeeded
message is read by the Messages API's own reader (cache writes by TTL, server tool
use, service tier) and the usage is added up (``batch_results``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from spendtap.event import Api, CallStatus
from spendtap.providers.anthropic_messages import read_message_json
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
    as_object,
    call_template,
    error_type_of,
    is_success,
    path_is,
    read_error,
)
from spendtap.providers.route_paths import path_matches

PROVIDER = "anthropic"
HOSTS = frozenset({"api.anthropic.com"})
SUCCEEDED = "succeeded"

RESULTS = re.compile(r"/v1/messages/batches/([^/]+)/results/?$")


def read_batch_create(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = call_template(PROVIDER, Api.MESSAGES, None, head, billable=False)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    return JsonBodyReader(template, batch_created)


def read_batch_results(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = call_template(PROVIDER, Api.MESSAGES, None, head)
    match = RESULTS.search(request.path_only)
    template = dataclasses.replace(
        template, response_id=match.group(1) if match else None
    )
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    line_template = dataclasses.replace(template, response_id=None)
    return BatchResultsReader(
        template, lambda line: read_result_line(line_template, line)
    )


def read_result_line(
    template: ParsedCall, line: Mapping[str, Any]
) -> ParsedCall | None:
    """One line of a results file; None for a line that is not a batch result."""
    if "custom_id" not in line or not isinstance(line.get("result"), dict):
        return None
    result = as_object(line.get("result"))
    if result.get("type") != SUCCEEDED:
        error = as_object(result.get("error"))
        return dataclasses.replace(
            template, status=CallStatus.ERROR, error_type=error_type_of(error)
        )
    return read_message_json(template, as_object(result.get("message")))


ROUTES: list[Route] = [
    Route(
        name="anthropic.message_batches",
        provider=PROVIDER,
        api=Api.MESSAGES,
        path=path_is("/v1/messages/batches"),
        reader=read_batch_create,
        hosts=HOSTS,
    ),
    Route(
        name="anthropic.message_batches.results",
        provider=PROVIDER,
        api=Api.MESSAGES,
        path=path_matches(r"/v1/messages/batches/[^/]+/results"),
        reader=read_batch_results,
        hosts=HOSTS,
        methods=frozenset({"GET"}),
    ),
]
