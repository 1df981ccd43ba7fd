"""The official SDKs through the collector to the simulator and on to the engine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendtap.demo.workspace import make_workspace

# Published list prices, USD per million tokens (not read from our price data).
HAIKU_4_5 = {
    "input": "1",
    "output": "5",
    "cache_read": "0.10",
    "cache_5m": "1.25",
    "cache_1h": "2",
}
GPT_4O_MINI = {"input": "0.15", "output": "0.60", "cache_read": "0.075"}

TOKEN_KEYS = ("input", "cache_read", "cache_5m", "cache_1h", "output", "reasoning")


def anthropic_tokens(u: dict[str, Any]) -> dict[str, int]:
    creation = u.get("cache_creation") or {}
    written = u.get("cache_creation_input_tokens") or 0
    one_hour = creation.get("ephemeral_1h_input_tokens") or 0
    return {
        "input": u["input_tokens"],
        "cache_read": u.get("cache_read_input_tokens") or 0,
        "cache_5m": written - one_hour,
        "cache_1h": one_hour,
        "output": u["output_tokens"],
        "reasoning": 0,
    }


def openai_tokens(u: dict[str, Any]) -> dict[str, int]:
    prompt: int = u["prompt_tokens"] if "prompt_tokens" in u else u["input_tokens"]
    completion: int = (
        u["completion_tokens"] if "completion_tokens" in u else u["output_tokens"]
    )
    p_details = u.get("prompt_tokens_details") or u.get("input_tokens_details") or {}
    c_details = (
        u.get("completion_tokens_details") or u.get("output_tokens_details") or {}
    )
    cached = p_details.get("cached_tokens") or 0
    return {
        "input": prompt - cached,
        "cache_read": cached,
        "cache_5m": 0,
        "cache_1h": 0,
        "output": completion,
        "reasoning": c_details.get("reasoning_tokens") or 0,
    }


def cost(tokens: dict[str, int], rates: dict[str, str]) -> Decimal:
    return sum(
        (Decimal(tokens[k]) * Decimal(rates[k]) / 1_000_000 for k in rates), Decimal(0)
    )


def run_clients(env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "spendtap.demo.clients", "anthropic", "openai"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [
        json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")
    ]


def test_sdk_calls_reach_engine_with_exact_tokens_and_cost(
    wired: Any, tmp_path: Path
) -> None:
    _, engine, env = wired
    calls = run_clients(env, make_workspace(tmp_path / "ws"))
    finished = time.monotonic()
    engine.wait_for_calls(len(calls), timeout=5.0)
    assert time.monotonic() - finished < 5.0

    expected: dict[str, dict[str, Any]] = {}
    for call in calls:
        is_anthropic = call["sdk"] == "anthropic"
        tokens = (anthropic_tokens if is_anthropic else openai_tokens)(call["usage"])
        row = expected.setdefault(
            call["sdk"], {k: 0 for k in TOKEN_KEYS} | {"calls": 0, "cost": Decimal(0)}
        )
        row["calls"] += 1
        row["cost"] += cost(tokens, HAIKU_4_5 if is_anthropic else GPT_4O_MINI)
        for key in TOKEN_KEYS:
            row[key] += tokens[key]

    report = engine.report("provider")
    got = {row["provider"]: row for row in report["rows"]}
    assert set(got) == {"anthropic", "openai"}
    for provider, want in expected.items():
        row = got[provider]
        assert row["calls"] == want["calls"]
        assert row["input_tokens"] == want["input"]
        assert row["cache_read_tokens"] == want["cache_read"]
        assert (row["cache_write_5m_tokens"] or 0) == want["cache_5m"]
        assert (row["cache_write_1h_tokens"] or 0) == want["cache_1h"]
        assert row["output_tokens"] == want["output"]
        assert (row["reasoning_tokens"] or 0) == want["reasoning"]
        assert abs(Decimal(str(row["cost_usd"])) - want["cost"]) < Decimal("1e-9")
    # The cache turn really exercised both cache paths.
    assert (
        expected["anthropic"]["cache_read"] > 0
        and expected["anthropic"]["cache_5m"] > 0
    )

    events = engine.rows()
    assert {e["agent"] for e in events} == {"sdk-python"}
    assert {e["repo"] for e in events} == {"github.com/acme/payments"}
    assert {e["ticket"] for e in events} == {"PAY-1423"}
    assert {e["user"] for e in events} == {"dev@acme.example"}
