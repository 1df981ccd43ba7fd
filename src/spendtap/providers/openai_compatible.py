"""Hosts that speak OpenAI's wire format: OpenRouter, Mistral, Groq, DeepSeek, xAI,
Together and Fireworks.

One table says, per host, who bills the call, which dialect its usage speaks
(``openai_dialects``) and where its Chat Completions, Responses and Embeddings
endpoints are. Routes are made from the table; there is no per-host code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from spendtap.event import Api
from spendtap.providers.base import (
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.dialect_readers import chat_reader, responses_reader
from spendtap.providers.openai_dialects import (
    DEEPSEEK,
    GROQ,
    OPENAI,
    OPENROUTER,
    XAI,
    Dialect,
)
from spendtap.providers.openai_embeddings import embeddings_reader
from spendtap.providers.route_paths import path_in


@dataclass(frozen=True, slots=True)
class CompatibleHost:
    """One OpenAI-compatible API host and the endpoints we read on it."""

    host: str
    provider: str
    dialect: Dialect
    chat: tuple[str, ...]
    responses: tuple[str, ...] = ()
    embeddings: tuple[str, ...] = ()


COMPATIBLE_HOSTS: tuple[CompatibleHost, ...] = (
    CompatibleHost(
        "openrouter.ai",
        "openrouter",
        OPENROUTER,
        chat=("/api/v1/chat/completions",),
        responses=("/api/v1/responses",),
        embeddings=("/api/v1/embeddings",),
    ),
    CompatibleHost(
        # Gemini's OpenAI-compatible endpoint: OpenAI usage shape, billed as Gemini.
        "generativelanguage.googleapis.com",
        "gcp.gemini",
        OPENAI,
        chat=("/v1beta/openai/chat/completions",),
        embeddings=("/v1beta/openai/embeddings",),
    ),
    CompatibleHost(
        "api.mistral.ai",
        "mistral_ai",
        OPENAI,
        chat=("/v1/chat/completions",),
        embeddings=("/v1/embeddings",),
    ),
    CompatibleHost(
        "api.groq.com",
        "groq",
        GROQ,
        chat=("/openai/v1/chat/completions",),
        responses=("/openai/v1/responses",),
    ),
    CompatibleHost(
        "api.deepseek.com",
        "deepseek",
        DEEPSEEK,
        chat=("/chat/completions", "/v1/chat/completions", "/beta/chat/completions"),
    ),
    CompatibleHost(
        "api.x.ai",
        "x_ai",
        XAI,
        chat=("/v1/chat/completions",),
        responses=("/v1/responses",),
        embeddings=("/v1/embeddings",),
    ),
    CompatibleHost(
        "api.together.xyz",
        "together_ai",
        OPENAI,
        chat=("/v1/chat/completions",),
        embeddings=("/v1/embeddings",),
    ),
    CompatibleHost(
        "api.fireworks.ai",
        "fireworks_ai",
        OPENAI,
        chat=("/inference/v1/chat/completions",),
        responses=("/inference/v1/responses",),
        embeddings=("/inference/v1/embeddings",),
    ),
)


def _read_chat(
    host: CompatibleHost, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    return chat_reader(host.provider, host.dialect, request, head)


def _read_responses(
    host: CompatibleHost, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    return responses_reader(host.provider, host.dialect, request, head)


def _read_embeddings(
    host: CompatibleHost, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    return embeddings_reader(host.provider, request, head)


def routes_for(host: CompatibleHost) -> list[Route]:
    """The routes of one table row: one per API the host serves."""
    apis = (
        (Api.CHAT_COMPLETIONS, host.chat, _read_chat),
        (Api.RESPONSES, host.responses, _read_responses),
        (Api.EMBEDDINGS, host.embeddings, _read_embeddings),
    )
    return [
        Route(
            name=f"{host.provider}.{api.value}",
            provider=host.provider,
            api=api,
            path=path_in(paths),
            reader=functools.partial(read, host),
            hosts=frozenset({host.host}),
        )
        for api, paths, read in apis
        if paths
    ]


ROUTES: list[Route] = [route for host in COMPATIBLE_HOSTS for route in routes_for(host)]
