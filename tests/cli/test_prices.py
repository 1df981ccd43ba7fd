"""`spendtap prices show` and `spendtap prices import`, run through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spendtap.cli.main import main
from spendtap.pricing import PRICE_DATA
from tests.pricing.test_snapshot import crafted_file

BEDROCK_SONNET_4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cells(out: str, label: str) -> list[str]:
    """The numbers of the rate-table row that starts with ``label``."""
    for line in out.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label) :].split()
    raise AssertionError(f"no row {label!r} in:\n{out}")


def test_show_explains_rates_tiers_rules_and_origins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "prices",
        "show",
        BEDROCK_SONNET_4,
        "--provider",
        "aws.bedrock",
        "--at",
        "2025-11-20",
        "--data-dir",
        str(tmp_path),
    )

    assert code == 0
    assert out.startswith(
        "claude-sonnet-4-20250514 on aws.bedrock, 2025-11-20 00:00 UTC, "
        "tier standard, region us\n"
    )
    assert "-> geo prefix us. → region us" in out
    assert (
        f"data    {PRICE_DATA}: aws/regional.anthropic.claude-sonnet-4-20250514-v1:0"
        in out
    )
    assert "R001 1-hour cache writes cost 2x base input" in out
    assert (
        "source: https://platform.claude.com/docs/en/about-claude/pricing#long-context-pricing"
        in out
    )
    # input, cache read, 5m write, 1h write, output, reasoning, web search per 1,000
    assert cells(out, "up to 200,000") == ["3", "0.3", "3.75", "6", "15", "15", "0"]
    assert cells(out, "over 200,000") == ["6", "0.6", "7.5", "12", "22.5", "22.5", "0"]
    assert (
        "1h write                6  data (no price: priced as a 5-minute write) -> R001 = 2 x input"
        in out
    )
    assert "output               22.5  data -> R002 x1.5 over 200,000" in out


def test_show_json_carries_the_same_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "prices",
        "show",
        "claude-haiku-4-5@default",
        "--provider",
        "gcp.vertex_ai",
        "--region",
        "europe-west1",
        "--at",
        "2025-11-20",
        "--json",
        "--data-dir",
        str(tmp_path),
    )

    shown = json.loads(out)
    assert code == 0
    assert shown["model"] == "claude-haiku-4-5"
    assert shown["normalisation"] == ["dropped Vertex @default"]
    assert [r["id"] for r in shown["rules"]] == ["R010", "R011"]
    # Vertex haiku 4.5 global 1 / 5, +10% on a regional endpoint
    assert shown["bands"][0]["rates"]["input"] == "1.1"
    assert shown["bands"][0]["rates"]["output"] == "5.5"
    assert shown["bands"][0]["rates"]["web_search"] == "10"
    assert shown["price_ref"] == f"{PRICE_DATA}:google/claude-haiku-4-5;rules=R010,R011"


def test_show_lists_the_sheet_entries_that_apply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "prices.toml").write_text(
        'name = "acme"\n[[discount]]\nid = "anth"\nprovider = "anthropic"\npercent = 20\n'
    )

    code, out, _ = run(
        capsys,
        "prices",
        "show",
        "claude-haiku-4-5",
        "--at",
        "2025-11-20",
        "--data-dir",
        str(tmp_path),
    )

    assert code == 0
    assert "claude-haiku-4-5 on anthropic" in out  # provider guessed from the name
    assert "sheet   acme: anth" in out
    assert cells(out, "any size")[:2] == ["0.8", "0.08"]  # 1 and 0.1 less 20%
    assert "data -> sheet acme: discount anth -20%" in out


def test_show_unknown_model_fails_with_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "prices",
        "show",
        "gpt-nonexistent-9",
        "--provider",
        "openai",
        "--data-dir",
        str(tmp_path),
    )

    assert code == 2
    assert "no price for 'gpt-nonexistent-9' on openai" in err
    assert "[[private_model]]" in err


def test_show_rejects_a_bad_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "prices",
        "show",
        "gpt-4o",
        "--at",
        "yesterday",
        "--data-dir",
        str(tmp_path),
    )

    assert code == 2
    assert "--at 'yesterday' is not a date or time" in err


def test_import_then_show_uses_and_names_the_new_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = crafted_file(tmp_path, haiku_input=1.5)
    data_dir = tmp_path / "data"

    code, out, err = run(
        capsys,
        "prices",
        "import",
        str(source),
        "--name",
        "dec",
        "--data-dir",
        str(data_dir),
    )
    assert code == 0
    assert out.splitlines()[0].startswith("imported dec: 4 providers, ")
    assert f"prices now name {PRICE_DATA}+data=dec in price_ref" in out
    assert "warning: this data has no prices for" in err

    code, out, _ = run(
        capsys,
        "prices",
        "show",
        "claude-haiku-4-5",
        "--provider",
        "anthropic",
        "--at",
        "2025-11-20",
        "--data-dir",
        str(data_dir),
    )
    assert code == 0
    assert f"data    {PRICE_DATA}+data=dec: anthropic/claude-haiku-4-5" in out
    assert cells(out, "any size")[0] == "1.5"


def test_import_of_a_bad_file_fails_and_keeps_the_old_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")

    code, _, err = run(
        capsys, "prices", "import", str(bad), "--data-dir", str(tmp_path)
    )

    assert code == 2
    assert "expected a non-empty JSON array of providers" in err
    assert not (tmp_path / "prices").exists()
