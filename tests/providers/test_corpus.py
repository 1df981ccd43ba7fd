"""The parsers against 300-odd real exchanges recorded by another project.

Every HTTP exchange in ``../shared/corpus/recorded`` is routed through the default
registry. For each one a route handles, the parsed token counts must equal the usage
the provider reported inside the response, worked out here from the raw body by a
small extraction of its own (written from the providers' API references, not from the
parsers). Exchanges no route handles are counted by host.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import struct
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from spendtap.event import Api, Usage
from spendtap.providers.base import ParsedCall, RequestInfo, ResponseHead, Route
from spendtap.providers.registry import default_registry

CORPUS = Path(__file__).parents[2] / ".." / "shared" / "corpus"
RECORDED = CORPUS / "recorded"
CHUNK = 1500  # feed bodies in pieces, as the network would

pytestmark = pytest.mark.skipif(
    not RECORDED.is_dir(),
    reason=f"the shared corpus is not at {RECORDED.resolve()} (CI has it there)",
)

Tokens = dict[str, int | None]


@dataclass(frozen=True)
class Recorded:
    source: str
    request: RequestInfo
    head: ResponseHead
    body: bytes


@dataclass(frozen=True)
class Reported:
    """What the provider said about the call, read straight from the recording."""

    tokens: Tokens
    model: str | None
    ok: bool
    #: What the host said it charged (OpenRouter's ``usage.cost``), when it said so.
    cost: Decimal | None = None


def test_every_routed_exchange_parses_to_the_usage_the_provider_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = default_registry()
    covered, matched, not_http = 0, 0, 0
    unrouted: Counter[str] = Counter()
    mismatches: list[str] = []

    for recorded in _recorded_exchanges():
        if recorded is None:
            not_http += 1
            continue
        route = registry.route(recorded.request)
        if route is None:
            unrouted[recorded.request.host] += 1
            continue
        covered += 1
        problem = _compare(route, recorded)
        if problem is None:
            matched += 1
        else:
            mismatches.append(f"{recorded.source}: {problem}")

    with capsys.disabled():
        print(f"\ncorpus: {covered} exchanges routed, {matched} matched exactly")
        print(f"corpus: {sum(unrouted.values())} HTTP exchanges no route handled:")
        for host, count in sorted(unrouted.items()):
            print(f"  {count:4d} {host}")
        print(f"corpus: {not_http} recorded calls were not HTTP (gRPC)")
    assert covered >= 150, "the corpus shrank: far fewer exchanges were routed"
    assert not mismatches, "\n".join(mismatches)


def _compare(route: Route, recorded: Recorded) -> str | None:
    reader = route.reader(recorded.request, recorded.head)
    for start in range(0, len(recorded.body), CHUNK):
        reader.feed(recorded.body[start : start + CHUNK])
    call = reader.finish(complete=True)
    reported = _reported(route, recorded)

    got = _tokens(call.usage)
    if got != reported.tokens:
        return f"tokens {got} != reported {reported.tokens}"
    if reported.ok and call.model != reported.model:
        return f"model {call.model!r} != reported {reported.model!r}"
    if (call.status.value == "ok") != reported.ok:
        return f"status {call.status.value} but the provider said ok={reported.ok}"
    if reported.cost is not None and call.reported_cost_usd != reported.cost:
        return f"reported cost {call.reported_cost_usd} != {reported.cost}"
    return _billable_problem(route, call)


def _billable_problem(route: Route, call: ParsedCall) -> str | None:
    counting = route.name.endswith(("count_tokens", "input_tokens"))
    return "a token count was marked billable" if counting == call.billable else None


def _reported(route: Route, recorded: Recorded) -> Reported:
    ok = 200 <= recorded.head.status < 300
    if not ok or route.name.endswith(("count_tokens", "input_tokens")):
        return Reported(tokens=_tokens(Usage()), model=None, ok=ok)
    if route.provider == "aws.bedrock":
        return _bedrock(recorded)
    text = recorded.body.decode("utf-8")
    streamed = recorded.head.content_type == "text/event-stream"
    if route.provider == "anthropic" or route.name.startswith("vertex.anthropic"):
        return _anthropic(text, streamed)
    # Gemini's native shape, not the OpenAI-shaped endpoint.
    if route.name.startswith(("gemini.", "vertex.gemini.")):
        return _gemini(text, streamed)
    if route.api is Api.CHAT_COMPLETIONS:
        return _openai_chat(text, streamed)
    return _openai_responses(text, streamed)


# Anthropic: message_start then message_delta usage, the later value of a field wins;
# cache writes split by TTL when cache_creation is given; compaction iterations sum.


def _anthropic(text: str, streamed: bool) -> Reported:
    if not streamed:
        body = json.loads(text)
        return Reported(_anthropic_tokens(body.get("usage") or {}), body["model"], True)
    usage: dict[str, Any] = {}
    model = None
    for payload in _sse_payloads(text):
        if payload.get("type") == "message_start":
            usage.update(payload["message"].get("usage") or {})
            model = payload["message"]["model"]
        elif payload.get("type") == "message_delta":
            revised = payload.get("usage") or {}
            usage.update({k: v for k, v in revised.items() if v is not None})
    return Reported(_anthropic_tokens(usage), model, True)


def _anthropic_tokens(usage: Mapping[str, Any]) -> Tokens:
    steps = usage.get("iterations") or [usage]
    tokens: Tokens = {}
    for step in steps:
        split = step.get("cache_creation")
        step_tokens = {
            "input_tokens": step.get("input_tokens"),
            "cache_read_tokens": step.get("cache_read_input_tokens"),
            "cache_write_5m_tokens": (
                split.get("ephemeral_5m_input_tokens")
                if split
                else step.get("cache_creation_input_tokens")
            ),
            "cache_write_1h_tokens": split.get("ephemeral_1h_input_tokens")
            if split
            else None,
            "output_tokens": step.get("output_tokens"),
            "reasoning_tokens": (step.get("output_tokens_details") or {}).get(
                "thinking_tokens"
            ),
        }
        tokens = _add(tokens, step_tokens)
    tokens["web_search_requests"] = (usage.get("server_tool_use") or {}).get(
        "web_search_requests"
    )
    return tokens


# OpenAI: prompt/input totals include cache reads and writes; completion/output totals
# include reasoning. Compatible hosts keep that, with these differences: Groq streams
# put usage in x_groq.usage; DeepSeek names cache hits prompt_cache_hit_tokens;
# OpenRouter reports its charge (cost) and web searches (server_tool_use_details),
# and may send usage in the chunk that reports a failure. A stream with an error
# payload in it did not succeed.


def _openai_chat(text: str, streamed: bool) -> Reported:
    payloads = _sse_payloads(text) if streamed else [json.loads(text)]
    usage, model = None, None
    for payload in payloads:
        model = payload.get("model") or model
        usage = (
            payload.get("usage") or (payload.get("x_groq") or {}).get("usage") or usage
        )
    failed = any(isinstance(p.get("error"), dict) for p in payloads)
    tokens = _openai_tokens(_with_cache_hits(usage), "prompt", "completion")
    tools = (usage or {}).get("server_tool_use_details") or {}
    tokens["web_search_requests"] = tools.get("web_search_requests")
    return Reported(tokens, model, not failed, _cost(usage))


def _with_cache_hits(usage: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not usage or "prompt_cache_hit_tokens" not in usage:
        return usage
    details = dict(usage.get("prompt_tokens_details") or {})
    details.setdefault("cached_tokens", usage["prompt_cache_hit_tokens"])
    return {**usage, "prompt_tokens_details": details}


def _cost(usage: Mapping[str, Any] | None) -> Decimal | None:
    cost = (usage or {}).get("cost")
    return None if cost is None else Decimal(str(cost))


def _openai_responses(text: str, streamed: bool) -> Reported:
    if streamed:
        ends = ("response.completed", "response.incomplete", "response.failed")
        finals = [p for p in _sse_payloads(text) if p.get("type") in ends]
        response = finals[-1]["response"]
    else:
        response = json.loads(text)
    tokens = _openai_tokens(response.get("usage"), "input", "output")
    searches = [
        i for i in response.get("output") or [] if i["type"] == "web_search_call"
    ]
    tokens["web_search_requests"] = len(searches) or None
    ok = response.get("status") != "failed"
    return Reported(tokens, response["model"], ok, _cost(response.get("usage")))


def _openai_tokens(usage: Mapping[str, Any] | None, inp: str, out: str) -> Tokens:
    tokens = _tokens(Usage())
    if not usage:
        return tokens
    prompt_details = usage.get(f"{inp}_tokens_details") or {}
    read = prompt_details.get("cached_tokens")
    written = prompt_details.get("cache_write_tokens")
    tokens.update(
        input_tokens=usage[f"{inp}_tokens"] - (read or 0) - (written or 0),
        cache_read_tokens=read,
        cache_write_5m_tokens=written,
        output_tokens=usage[f"{out}_tokens"],
        reasoning_tokens=(usage.get(f"{out}_tokens_details") or {}).get(
            "reasoning_tokens"
        ),
    )
    return tokens


# Gemini (API and Vertex): promptTokenCount includes cachedContentTokenCount; tool-use
# prompt tokens and thoughts are counted apart and added to input and output; a stream
# repeats cumulative usageMetadata, so the last snapshot is the call's.


def _gemini(text: str, streamed: bool) -> Reported:
    responses = _sse_payloads(text) if streamed else [json.loads(text)]
    usage = [r["usageMetadata"] for r in responses if "usageMetadata" in r][-1]
    versions = [r["modelVersion"] for r in responses if "modelVersion" in r]
    prompt = usage.get("promptTokenCount")
    cached = usage.get("cachedContentTokenCount")
    tool_prompt = usage.get("toolUsePromptTokenCount")
    candidates = usage.get("candidatesTokenCount")
    thoughts = usage.get("thoughtsTokenCount")
    tokens = _tokens(Usage())
    tokens.update(
        input_tokens=_add_known(
            None if prompt is None else prompt - (cached or 0), tool_prompt
        ),
        cache_read_tokens=cached,
        output_tokens=_add_known(candidates, thoughts),
        reasoning_tokens=thoughts,
    )
    model = re.sub(r"^models/|(?<=^gemini-\d)(.*)-0\d\d$", r"\1", versions[-1])
    return Reported(tokens, model, True)


def _add_known(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


# Bedrock: Converse usage excludes the cache from inputTokens and splits cache writes
# by TTL in cacheDetails; ConverseStream puts it in its last (metadata) event; invoke
# bodies of Claude are Anthropic bodies, and every invoke response carries invocation
# metrics (headers, or the last stream chunk). The model is the URL's, less the geo
# prefix and, for Claude, the vendor prefix and Bedrock version.


def _bedrock(recorded: Recorded) -> Reported:
    model_id, operation = unquote(recorded.request.path_only).rsplit("/", 1)
    model = _bedrock_model(model_id.removeprefix("/model/"))
    if operation == "converse":
        return Reported(_converse(json.loads(recorded.body)["usage"]), model, True)
    messages = _aws_event_stream(recorded.body) if "stream" in operation else []
    if operation == "converse-stream":
        metadata = [p for kind, p in messages if kind == "metadata"][-1]
        return Reported(_converse(json.loads(metadata)["usage"]), model, True)
    if operation == "invoke":
        body = json.loads(recorded.body)
        if body.get("type") == "message":
            return Reported(_anthropic_tokens(body["usage"]), body["model"], True)
        return Reported(_metrics(_header_metrics(recorded.head.headers)), model, True)
    chunks = [
        json.loads(base64.b64decode(json.loads(payload)["bytes"]))
        for kind, payload in messages
        if kind == "chunk"
    ]
    metrics = [
        c["amazon-bedrock-invocationMetrics"]
        for c in chunks
        if "amazon-bedrock-invocationMetrics" in c
    ]
    return Reported(_metrics(metrics[-1]), model, True)


def _bedrock_model(model_id: str) -> str:
    if model_id.startswith("arn:"):
        model_id = model_id.rsplit("/", 1)[1]
    parts = model_id.split(".")
    if len(parts) > 2 and parts[0] in ("us", "eu", "apac", "global", "jp", "au"):
        parts = parts[1:]
    if parts[0] == "anthropic":
        return re.sub(r"-v\d+:\d+$", "", ".".join(parts[1:]))
    return ".".join(parts)


def _converse(usage: Mapping[str, Any]) -> Tokens:
    tokens = _tokens(Usage())
    by_ttl: dict[str, int] = {}
    for detail in usage.get("cacheDetails") or []:
        by_ttl[detail["ttl"]] = by_ttl.get(detail["ttl"], 0) + detail["inputTokens"]
    tokens.update(
        input_tokens=usage["inputTokens"],
        cache_read_tokens=usage.get("cacheReadInputTokens"),
        cache_write_5m_tokens=by_ttl.get("5m")
        if by_ttl
        else usage.get("cacheWriteInputTokens"),
        cache_write_1h_tokens=by_ttl.get("1h"),
        output_tokens=usage["outputTokens"],
    )
    return tokens


def _header_metrics(headers: Mapping[str, str]) -> dict[str, int]:
    prefix = "x-amzn-bedrock-"
    names = {
        "input-token-count": "inputTokenCount",
        "output-token-count": "outputTokenCount",
        "cache-read-input-token-count": "cacheReadInputTokenCount",
        "cache-write-input-token-count": "cacheWriteInputTokenCount",
    }
    return {
        names[k[len(prefix) :]]: int(v)
        for k, v in headers.items()
        if k.startswith(prefix) and k[len(prefix) :] in names
    }


def _metrics(metrics: Mapping[str, int]) -> Tokens:
    tokens = _tokens(Usage())
    tokens.update(
        input_tokens=metrics.get("inputTokenCount"),
        cache_read_tokens=metrics.get("cacheReadInputTokenCount"),
        cache_write_5m_tokens=metrics.get("cacheWriteInputTokenCount"),
        output_tokens=metrics.get("outputTokenCount"),
    )
    return tokens


def _aws_event_stream(body: bytes) -> list[tuple[str, bytes]]:
    """(``:event-type``, payload) of each message; every header Bedrock sends is a
    string (type 7). CRCs are not checked here: the parsers' tests do that."""
    messages = []
    while body:
        total, headers_length = struct.unpack(">II", body[:8])
        headers, payload = (
            body[12 : 12 + headers_length],
            body[12 + headers_length : total - 4],
        )
        names: dict[str, str] = {}
        while headers:
            name_end = 1 + headers[0]
            value_length = struct.unpack(">H", headers[name_end + 1 : name_end + 3])[0]
            value = headers[name_end + 3 : name_end + 3 + value_length]
            names[headers[1:name_end].decode()] = value.decode()
            headers = headers[name_end + 3 + value_length :]
        messages.append((names.get(":event-type", ""), payload))
        body = body[total:]
    return messages


def _sse_payloads(text: str) -> list[dict[str, Any]]:
    payloads = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [
            line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")
        ]
        if data and data != ["[DONE]"]:
            payloads.append(json.loads("\n".join(data)))
    return payloads


def _add(total: Tokens, step: Tokens) -> Tokens:
    out: Tokens = {}
    for name in step.keys() | total.keys():
        a, b = total.get(name), step.get(name)
        out[name] = b if a is None else a if b is None else a + b
    return out


def _tokens(usage: Usage) -> Tokens:
    return dataclasses.asdict(usage)


# Reading the recordings (VCR-style YAML cassettes).


def _recorded_exchanges() -> Iterator[Recorded | None]:
    for path in sorted(RECORDED.rglob("*.yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())
        for index, interaction in enumerate(document.get("interactions") or []):
            if "request" not in interaction:
                yield None  # a gRPC recording (xAI SDK), not an HTTP exchange
                continue
            yield _recorded(f"{path.relative_to(RECORDED)}#{index}", interaction)


def _recorded(source: str, interaction: Mapping[str, Any]) -> Recorded:
    request, response = interaction["request"], interaction["response"]
    url = urlsplit(request["uri"])
    return Recorded(
        source=source,
        request=RequestInfo(
            method=request["method"].upper(),
            host=url.hostname or "",
            path=url.path + (f"?{url.query}" if url.query else ""),
            headers=_headers(request.get("headers")),
            body=_body(request),
        ),
        head=ResponseHead(
            status=response["status"]["code"], headers=_headers(response.get("headers"))
        ),
        body=_body(response),
    )


def _headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    headers = {}
    for name, values in (raw or {}).items():
        items = values if isinstance(values, list) else [values]
        headers[name.lower()] = ", ".join(str(v) for v in items)
    return headers


def _body(message: Mapping[str, Any]) -> bytes:
    if "parsed_body" in message:
        return json.dumps(message["parsed_body"]).encode()
    body = message.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, bytes):
        return body
    return (body or "").encode("utf-8")


def _loader() -> type[yaml.SafeLoader]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[no-any-return]
