"""The same transcripts through `spendtap import claude-code --json` and the real
`ccusage daily --json --offline` (20.0.24): token totals agree on every day, and
where they do not the reason is one of ccusage's, named here and in
docs/agent-logs.md."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.agentlogs.conftest import ClaudeCopier, run_json

ROOT = Path(__file__).resolve().parents[2]
CCUSAGE = ROOT / "tools" / "npm" / "node_modules" / ".bin" / "ccusage"
KINDS = ("input", "output", "cache_read", "cache_creation")
#: Cases both tools read the same way.
AGREED = (
    "content_blocks",
    "streaming_snapshot",
    "sidechain",
    "resumed",
    "context",
    "noise",
)

pytestmark = pytest.mark.skipif(
    not CCUSAGE.exists(), reason=f"ccusage is not installed at {CCUSAGE}"
)

Days = dict[str, dict[str, Any]]


def ccusage_days(home: Path) -> Days:
    env = {**os.environ, "HOME": str(home), "TZ": "UTC"}
    env.pop("CLAUDE_CONFIG_DIR", None)
    done = subprocess.run(
        [str(CCUSAGE), "daily", "--json", "--offline", "--timezone", "UTC"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    report = json.loads(done.stdout)
    return {
        row["period"]: {
            "input": row["inputTokens"],
            "output": row["outputTokens"],
            "cache_read": row["cacheReadTokens"],
            "cache_creation": row["cacheCreationTokens"],
            "cost": Decimal(str(row["totalCost"])),
        }
        for row in report["daily"]
    }


def our_days(
    projects: Path, data_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> Days:
    days: Days = defaultdict(lambda: {**dict.fromkeys(KINDS, 0), "cost": Decimal(0)})
    for event in run_json(projects, data_dir, capsysbinary):
        day = days[event["started_at"][:10]]
        day["input"] += event["input_tokens"] or 0
        day["output"] += event["output_tokens"] or 0
        day["cache_read"] += event["cache_read_tokens"] or 0
        day["cache_creation"] += (event["cache_write_5m_tokens"] or 0) + (
            event["cache_write_1h_tokens"] or 0
        )
        day["cost"] += Decimal(str(event["cost_usd"]))
    return dict(days)


def tokens(days: Days) -> dict[str, dict[str, int]]:
    return {day: {k: v[k] for k in KINDS} for day, v in days.items()}


def test_token_totals_agree_with_ccusage_on_every_day(
    claude_case: ClaudeCopier,
    home: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case(*AGREED)

    ours = our_days(projects, tmp_path / "data", capsysbinary)
    theirs = ccusage_days(home)

    assert tokens(ours) == tokens(theirs)
    assert ours["2025-10-02"]["output"] == 240 + 400 + 800 + 480 + 370 + 200
    # Same models, same list prices: the costs agree too (to ccusage's float sums).
    assert abs(ours["2025-10-02"]["cost"] - theirs["2025-10-02"]["cost"]) < Decimal(
        "1e-9"
    )


def test_lines_ccusage_skips_silently_are_counted_by_us(
    claude_case: ClaudeCopier,
    home: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case("spaced_json", "timestamps")

    ours = tokens(our_days(projects, tmp_path / "data", capsysbinary))
    theirs = tokens(ccusage_days(home))

    # ccusage reads neither spaced-out JSON (msg_04A, msg_04B: 11+13 in, 110+130 out)
    # nor a fraction of a second that is not three digits (msg_05B .5, msg_05C
    # microseconds, msg_05D nanoseconds: 2+3+4 in, 20+30+40 out).
    assert ours["2025-10-02"]["input"] == 24 + 15
    assert ours["2025-10-02"]["input"] - theirs["2025-10-02"]["input"] == 24 + 9
    assert ours["2025-10-02"]["output"] - theirs["2025-10-02"]["output"] == 240 + 90


def test_known_differences_response_without_request_id_and_compaction(
    claude_case: ClaudeCopier,
    home: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case("request_ids", "compaction")

    ours = tokens(our_days(projects, tmp_path / "data", capsysbinary))["2025-10-02"]
    theirs = tokens(ccusage_days(home))["2025-10-02"]

    # ccusage's daily report counts each line of a response that has no request id
    # (msg_03A twice: +5 in, +50 out; msg_03B's second line: +6, +60) ...
    # ... and counts only the last step of a compacted call (50 in, 20 out, where
    # the call was billed for 950 in, 320 out).
    assert ours["input"] - theirs["input"] == -(5 + 6) + (950 - 50)
    assert ours["output"] - theirs["output"] == -(50 + 60) + (320 - 20)


def test_cost_differences_come_from_price_rules_ccusage_lacks(
    claude_case: ClaudeCopier,
    home: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case("price_differences")

    ours = our_days(projects, tmp_path / "data", capsysbinary)["2025-11-20"]
    theirs = ccusage_days(home)["2025-11-20"]

    assert tokens({"d": ours}) == tokens({"d": theirs})
    # msg_12A has a 250,000-token prompt on Sonnet 4.5: Anthropic bills the whole
    # call at the long-context rates ($6 in, $22.50 out per MTok); ccusage charges
    # only the tokens past 200,000 at $6 and the output at $15.
    ours_long = (250_000 * 6 + 1000 * Decimal("22.5")) / 10**6
    theirs_long = (200_000 * 3 + 50_000 * 6 + 1000 * 15) / Decimal(10**6)
    # msg_12B made 3 web searches ($10 per thousand), which ccusage does not price.
    searches = 3 * Decimal("0.01")
    assert abs(
        (ours["cost"] - theirs["cost"]) - (ours_long - theirs_long + searches)
    ) < Decimal("1e-9")
