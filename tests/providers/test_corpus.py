"""The parsers against 300-odd real exchanges recorded by another project.

Every HTTP exchange in ``../shared/corpus/recorded`` is routed through the default
registry. For each one a route handles, the parsed token counts must equal the usage
the provider reported inside the response, worked out here from the raw body by a
small extraction of its own (written from the providers' API references, not from the
parsers). Exchanges no route handles are counted by host.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from spendtap.event import Usage
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
    return _billable_problem(route, call)


def _billable_problem(route: Route, call: ParsedCall) -> str | None:
    counting = route.name.endswith(("count_tokens", "input_tokens"))
    return "a token count was marked billable" if counting == call.billable else None


def _reported(route: Route, recorded: Recorded) -> Reported:
    ok = 200 <= recorded.head.status < 300
    if not ok or route.name.endswith(("count_tokens", "input_tokens")):
        return Reported(tokens=_tokens(Usage()), model=None, ok=ok)
    text = recorded.body.decode("utf-8")
    streamed = recorded.head.content_type == "text/event-stream"
    if route.provider == "anthropic":
        return _anthropic(text, streamed)
    if route.name == "openai.chat_completions":
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
# include reasoning.


def _openai_chat(text: str, streamed: bool) -> Reported:
    if not streamed:
        body = json.loads(text)
        return Reported(_openai_tokens(body.get("usage"), "prompt", "completion"),
                        body["model"], True)  # fmt: skip
    usage, model = None, None
    for payload in _sse_payloads(text):
        model = payload.get("model") or model
        usage = payload.get("usage") or usage
    return Reported(_openai_tokens(usage, "prompt", "completion"), model, True)


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
    return Reported(tokens, response["model"], response.get("status") != "failed")


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
