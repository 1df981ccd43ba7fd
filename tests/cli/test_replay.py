"""`spendtap replay FILE.har --json`: one usage event per AI call, secrets never printed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from spendtap.event import EVENT_FIELDS

SECRET = "sk-ant-api03-replaysecret"
GOOGLE_KEY = "AIzaReplaySecretKey"

ANTHROPIC_SSE = "".join(
    f"event: {name}\ndata: {json.dumps(data)}\n\n"
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_replay_1",
                    "model": "claude-sonnet-4-5-20250929",
                    "usage": {
                        "input_tokens": 4,
                        "cache_read_input_tokens": 2455,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi"},
            },
        ),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 23}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)
OPENAI_BODY = {
    "id": "chatcmpl-replay",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 17903,
        "completion_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 17817},
    },
}


def entry(
    url: str,
    req: dict[str, Any],
    status: int,
    body: str,
    *,
    mime: str,
    b64: bool = False,
    headers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    text = base64.b64encode(body.encode()).decode() if b64 else body
    content: dict[str, Any] = {"size": len(body), "mimeType": mime, "text": text}
    if b64:
        content["encoding"] = "base64"
    return {
        "startedDateTime": "2026-11-02T10:00:00.000Z",
        "time": 850.0,
        "request": {
            "method": "POST",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": headers or [],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": -1,
            "postData": {"mimeType": "application/json", "text": json.dumps(req)},
        },
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "request-id", "value": "req_replay_1"}],
            "cookies": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 800, "receive": 50},
    }


def write_har(path: Path) -> Path:
    entries = [
        entry(
            "https://api.anthropic.com/v1/messages",
            {"model": "claude-sonnet-4-5", "stream": True, "messages": []},
            200,
            ANTHROPIC_SSE,
            mime="text/event-stream",
            headers=[{"name": "x-api-key", "value": SECRET}],
        ),
        entry(
            f"https://api.openai.com/v1/chat/completions?key={GOOGLE_KEY}",
            {"model": "gpt-4o-mini", "messages": []},
            200,
            json.dumps(OPENAI_BODY),
            mime="application/json",
            b64=True,
            headers=[{"name": "authorization", "value": f"Bearer {SECRET}"}],
        ),
        entry(
            "https://example.com/api", {"not": "ai"}, 200, "{}", mime="application/json"
        ),
    ]
    path.write_text(
        json.dumps(
            {
                "log": {
                    "version": "1.2",
                    "creator": {"name": "t", "version": "1"},
                    "entries": entries,
                }
            }
        )
    )
    return path


def replay(har: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spendtap", "replay", str(har), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_prints_one_event_per_ai_call(tmp_path: Path) -> None:
    done = replay(write_har(tmp_path / "calls.har"))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(events) == 2
    assert all(list(e) == list(EVENT_FIELDS) for e in events)

    claude, gpt = events
    assert (claude["provider"], claude["api"], claude["streaming"]) == (
        "anthropic",
        "messages",
        True,
    )
    assert (
        claude["input_tokens"],
        claude["cache_read_tokens"],
        claude["output_tokens"],
    ) == (4, 2455, 23)
    assert claude["capture_source"] == "har" and claude["request_id"] == "req_replay_1"
    assert claude["started_at"] == "2026-11-02T10:00:00.000Z"
    assert claude["duration_ms"] == 850
    assert (gpt["input_tokens"], gpt["cache_read_tokens"], gpt["output_tokens"]) == (
        86,
        17817,
        12,
    )
    assert gpt["model"] == "gpt-4o-mini-2024-07-18" and gpt["cost_status"] == "priced"


def test_replay_is_stable_and_prints_no_secret(tmp_path: Path) -> None:
    har = write_har(tmp_path / "calls.har")
    first, second = replay(har), replay(har)
    assert first.stdout == second.stdout
    for stream in (first.stdout, first.stderr):
        assert SECRET not in stream and GOOGLE_KEY not in stream


def test_replay_of_a_broken_har_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [{"request": 1}]}}')
    done = replay(bad)
    assert done.returncode == 2
    assert "bad.har" in done.stderr and "entry 0" in done.stderr


def test_s05_legacy_completion_without_usage_keeps_its_latency(tmp_path: Path) -> None:
    body = {
        "completion": " Hi",
        "stop_reason": "stop_sequence",
        "model": "claude-instant-1.2",
    }
    legacy = entry(
        "https://api.anthropic.com/v1/complete",
        {"model": "claude-instant-1.2", "prompt": "\n\nHuman: hi\n\nAssistant:"},
        200,
        json.dumps(body),
        mime="application/json",
    )
    legacy["time"] = 987.0
    har = tmp_path / "legacy.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [legacy]}}))

    done = replay(har)

    assert done.returncode == 0, done.stderr
    [event] = [json.loads(line) for line in done.stdout.splitlines()]
    assert (event["api"], event["status"], event["usage_source"]) == (
        "complete",
        "ok",
        "absent",
    )
    assert event["duration_ms"] == 987
    assert event["input_tokens"] is None and event["output_tokens"] is None
    assert event["cost_usd"] is None and event["cost_status"] == "unpriced"
