"""Azure OpenAI: OpenAI's wire format on ``<resource>.openai.azure.com`` and the
``cognitiveservices.azure.com`` and ``services.ai.azure.com`` resource hosts.

Two path styles: deployment URLs, ``/openai/deployments/{deployment}/chat/completions
?api-version=...`` (and ``/embeddings``), with ``/openai/responses`` beside them; and the
versionless ``/openai/v1/...`` paths, where the deployment is the body's ``model``.
A deployment is a customer's own name, so it is only the requested model; the served
model comes from the response body. Bodies and streams are OpenAI's, read by the
same readers as api.openai.com. A stream may open with a chunk that has no choices,
an empty model and id and only ``prompt_filter_results`` (the content filter's verdict
on the prompt); it carries nothing to record and is passed over like any other
chunk without content.

Batch (``/openai/batches``, ``/openai/files/{id}/content``) and Realtime
(``/openai/realtime?deployment=...``, ``/openai/v1/realtime?model=...``) use the
readers of OpenAI's own Batch and Realtime modules. Azure AI Foundry's model
inference endpoint, ``/models/chat/completions``, serves other vendors' models under
the ``azure.ai.inference`` provider name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from urllib.parse import unquote

from spendtap.event import Api
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.framing import as_object, call_template, open_reader
from spendtap.providers.openai_batch import batch_create_reader, batch_output_reader
from spendtap.providers.openai_chat import ChatStream, read_chat_json
from spendtap.providers.openai_embeddings import embeddings_reader
from spendtap.providers.openai_realtime import (
    REALTIME_API,
    query_value,
    realtime_reader,
)
from spendtap.providers.openai_responses import ResponseStream, read_response_json
from spendtap.providers.route_paths import path_in, path_matches

PROVIDER = "azure.ai.openai"
INFERENCE_PROVIDER = "azure.ai.inference"
HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)
FOUNDRY_SUFFIXES = (".services.ai.azure.com",)

DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]+)/")
_IN_DEPLOYMENT = r"/openai/deployments/[^/]+"

ReaderFactory = Callable[[RequestInfo, ResponseHead], ResponseReader]


def deployment_of(request: RequestInfo) -> str | None:
    """The deployment named in a deployment URL, or None for ``/openai/v1`` paths."""
    match = DEPLOYMENT.match(request.path_only)
    return unquote(match.group(1)) if match else None


def _template(
    provider: str, api: Api, request: RequestInfo, head: ResponseHead
) -> ParsedCall:
    template = call_template(provider, api, request.json_body(), head)
    deployment = deployment_of(request)
    if deployment is None:
        return template
    return dataclasses.replace(template, model_requested=deployment)


def _chat(provider: str) -> ReaderFactory:
    def read(request: RequestInfo, head: ResponseHead) -> ResponseReader:
        template = _template(provider, Api.CHAT_COMPLETIONS, request, head)
        body = request.json_body() or {}
        options = as_object(body.get("stream_options"))
        include_usage = options.get("include_usage") is True
        return open_reader(
            head,
            template,
            read_chat_json,
            lambda: ChatStream(template, include_usage),
        )

    return read


def read_responses(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = _template(PROVIDER, Api.RESPONSES, request, head)
    return open_reader(
        head, template, read_response_json, lambda: ResponseStream(template)
    )


def read_embeddings(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return embeddings_reader(PROVIDER, request, head, deployment_of(request))


def read_realtime(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    requested = query_value(request, "deployment") or query_value(request, "model")
    return realtime_reader(PROVIDER, request, head, requested)


def read_batch_create(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return batch_create_reader(PROVIDER, request, head)


def read_file_content(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return batch_output_reader(PROVIDER, request, head)


def _route(
    name: str,
    api: Api,
    path: Callable[[str], bool],
    reader: ReaderFactory,
    *,
    method: str = "POST",
) -> Route:
    return Route(
        name=f"azure_openai.{name}",
        provider=PROVIDER,
        api=api,
        path=path,
        reader=reader,
        host_suffixes=HOST_SUFFIXES,
        methods=frozenset({method}),
    )


ROUTES: list[Route] = [
    _route(
        "chat_completions",
        Api.CHAT_COMPLETIONS,
        path_matches(rf"(?:{_IN_DEPLOYMENT}|/openai/v1)/chat/completions"),
        _chat(PROVIDER),
    ),
    _route(
        "responses",
        Api.RESPONSES,
        path_in(("/openai/responses", "/openai/v1/responses")),
        read_responses,
    ),
    _route(
        "embeddings",
        Api.EMBEDDINGS,
        path_matches(rf"(?:{_IN_DEPLOYMENT}|/openai/v1)/embeddings"),
        read_embeddings,
    ),
    _route(
        "realtime",
        REALTIME_API,
        path_in(("/openai/realtime", "/openai/v1/realtime")),
        read_realtime,
        method="GET",
    ),
    _route(
        "batches",
        Api.CHAT_COMPLETIONS,
        path_in(("/openai/batches", "/openai/v1/batches")),
        read_batch_create,
    ),
    _route(
        "files.content",
        Api.CHAT_COMPLETIONS,
        path_matches(r"/openai(?:/v1)?/files/[^/]+/content"),
        read_file_content,
        method="GET",
    ),
    Route(
        name="azure_ai_inference.chat_completions",
        provider=INFERENCE_PROVIDER,
        api=Api.CHAT_COMPLETIONS,
        path=path_in(("/models/chat/completions",)),
        reader=_chat(INFERENCE_PROVIDER),
        host_suffixes=FOUNDRY_SUFFIXES,
    ),
]
