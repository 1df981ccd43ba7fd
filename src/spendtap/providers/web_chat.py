"""Web chat: the conversation endpoints of claude.ai and chatgpt.com.

These streams carry no token counts. A call records the model (asked for in the
request body, served as the stream says), status, bytes and timing, and an estimate
of the tokens (``text_estimate``: UTF-8 bytes of the prompt text and of the streamed
answer, over four) marked ``usage_source: estimated``. No text is kept: each piece is
measured as it passes and dropped. The conversation history the service adds to the
prompt on its side is not on the wire, so input is under-estimated.

Only the conversation endpoints are routed; every other path on these hosts is
passed through and not recorded. Streams are read by ``claude_web`` and
``chatgpt_web``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.chatgpt_web import ChatGptStream, chatgpt_prompt_bytes
from spendtap.providers.claude_web import ClaudeWebStream, claude_prompt_bytes
from spendtap.providers.framing import (
    StreamParser,
    as_text,
    is_success,
    open_reader,
)
from spendtap.providers.route_paths import path_in, path_matches

CLAUDE_HOSTS = frozenset({"claude.ai"})
CHATGPT_HOSTS = frozenset({"chatgpt.com"})

CLAUDE_COMPLETION = (
    r"/api/organizations/[^/]+/chat_conversations/[^/]+/(?:retry_)?completion"
)
CHATGPT_CONVERSATION = (
    "/backend-api/conversation",
    "/backend-api/f/conversation",
    "/backend-anon/conversation",
    "/backend-anon/f/conversation",
)

StreamFactory = Callable[[ParsedCall, int | None], StreamParser]


def read_claude(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return web_chat_reader(
        "anthropic", request, head, claude_prompt_bytes, ClaudeWebStream
    )


def read_chatgpt(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return web_chat_reader("openai", request, head, chatgpt_prompt_bytes, ChatGptStream)


def web_chat_reader(
    provider: str,
    request: RequestInfo,
    head: ResponseHead,
    prompt_bytes: Callable[[Mapping[str, Any] | None], int | None],
    new_stream: StreamFactory,
) -> ResponseReader:
    """A web chat turn: the prompt is measured now and the body is let go."""
    body = request.json_body()
    template = ParsedCall(
        provider=provider,
        api=Api.WEB_CHAT,
        streaming=True,
        status=CallStatus.OK if is_success(head.status) else CallStatus.ERROR,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
        model_requested=as_text((body or {}).get("model")),
        http_status=head.status,
    )
    size = prompt_bytes(body)
    return open_reader(
        head, template, _no_usage_in_json, lambda: new_stream(template, size)
    )


def _no_usage_in_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    return template  # a JSON answer here is not a turn we can measure


ROUTES: list[Route] = [
    Route(
        name="claude_ai.web_chat",
        provider="anthropic",
        api=Api.WEB_CHAT,
        path=path_matches(CLAUDE_COMPLETION),
        reader=read_claude,
        hosts=CLAUDE_HOSTS,
    ),
    Route(
        name="chatgpt.web_chat",
        provider="openai",
        api=Api.WEB_CHAT,
        path=path_in(CHATGPT_CONVERSATION),
        reader=read_chatgpt,
        hosts=CHATGPT_HOSTS,
    ),
]
