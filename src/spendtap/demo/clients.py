"""Real client programs for the demo and the end-to-end tests.

Run as ``python -m spendtap.demo.clients anthropic|openai``. Each makes calls with the
official SDK, with whatever proxy and CA the environment gives it (``HTTPS_PROXY``,
``SSL_CERT_FILE``), and prints one JSON line per call with the usage the SDK itself
reported, so a caller can check the engine against it independently.
"""

from __future__ import annotations

import json
import sys
from typing import Any

CLAUDE_MODEL = "claude-haiku-4-5-20251001"
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
LONG_CONTEXT = "Reference manual for the payments service. " * 400

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def emit(sdk: str, kind: str, usage: Any) -> None:
    data = usage.model_dump() if hasattr(usage, "model_dump") else usage
    print(json.dumps({"sdk": sdk, "kind": kind, "usage": data}), flush=True)


def run_anthropic() -> None:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-ant-demo-key", max_retries=0)
    plain = client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": "Say hello to the finance team."}],
    )
    emit("anthropic", "create", plain.usage)

    with client.messages.stream(
        model=CLAUDE_MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": "Stream a short haiku about invoices."}],
    ) as stream:
        final = stream.get_final_message()
    emit("anthropic", "stream", final.usage)

    system = [
        {"type": "text", "text": LONG_CONTEXT, "cache_control": {"type": "ephemeral"}}
    ]
    for turn in ("first", "second"):
        cached = client.messages.create(
            model=CLAUDE_MODEL,
            max_tokens=100,
            system=system,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": f"Summarise the manual ({turn})."}],
        )
        emit("anthropic", f"cache-{turn}", cached.usage)

    question = {"role": "user", "content": "What is the weather in Lisbon?"}
    asked = client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[question],  # type: ignore[list-item]
    )
    emit("anthropic", "tool-call", asked.usage)
    tool_use = next(b for b in asked.content if b.type == "tool_use")
    answered = client.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": asked.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": tool_use.id,
                        "content": "21 C",
                    }
                ],
            },
        ],
    )
    emit("anthropic", "tool-result", answered.usage)


def run_openai() -> None:
    import openai

    client = openai.OpenAI(api_key="sk-demo-openai-key", max_retries=0)
    chat = client.chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "Say hello to the platform team."}],
    )
    emit("openai", "chat", chat.usage)

    usage = None
    for chunk in client.chat.completions.create(
        model=OPENAI_MODEL,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream a line about budgets."}],
    ):
        usage = chunk.usage or usage
    emit("openai", "chat-stream", usage)

    response = client.responses.create(model=OPENAI_MODEL, input="One word for thrift?")
    emit("openai", "responses", response.usage)

    with client.responses.stream(
        model=OPENAI_MODEL, input="Stream one word."
    ) as stream:
        final = stream.get_final_response()
    emit("openai", "responses-stream", final.usage)


RUNNERS = {"anthropic": run_anthropic, "openai": run_openai}


def main(argv: list[str]) -> int:
    for name in argv or list(RUNNERS):
        RUNNERS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
