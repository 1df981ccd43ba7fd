"""Importing newer genai-prices data from a local file, and pricing with it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices.data_snapshot import get_snapshot

from spendtap.errors import InputError
from spendtap.event import Usage
from spendtap.pricing import PRICE_DATA, Pricer
from spendtap.pricing.snapshot import (
    ACTIVE_FILE,
    PRICES_DIR,
    import_price_data,
    read_price_file,
)
from tests.pricing.genai_json import to_raw

M = Decimal(1_000_000)
AT = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
KEPT = ("anthropic", "openai", "google", "aws")


def crafted_file(tmp_path: Path, haiku_input: float = 1.5) -> Path:
    """The bundled snapshot for four providers, with claude-haiku-4-5's input rate
    changed so a test can tell the imported data from the bundled one."""
    raw = [to_raw(p) for p in get_snapshot().providers if p.id in KEPT]
    anthropic = next(p for p in raw if p["id"] == "anthropic")
    haiku = next(m for m in anthropic["models"] if m["id"] == "claude-haiku-4-5")
    haiku["prices"]["input_mtok"] = haiku_input
    path = tmp_path / "data.json"
    path.write_text(json.dumps(raw))
    return path


def test_imported_data_prices_later_calls_and_is_named(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = crafted_file(tmp_path)
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    result = import_price_data(source, data_dir, name="2026-12-01")
    price = Pricer(data_dir=data_dir).price("anthropic", "claude-haiku-4-5", usage, AT)

    assert result.name == "2026-12-01"
    assert result.providers == 4
    assert result.label == f"{PRICE_DATA}+data=2026-12-01"
    assert "x-ai" in result.missing_providers
    assert price.cost_usd == (1_000 * Decimal("1.5") + 1_000 * 5) / M
    assert price.price_ref == f"{PRICE_DATA}+data=2026-12-01:anthropic/claude-haiku-4-5"
    assert (data_dir / PRICES_DIR / "genai-prices-2026-12-01.json").read_bytes() == (
        source.read_bytes()
    )


def test_without_an_import_the_bundled_data_is_used(tmp_path: Path) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    price = Pricer(data_dir=tmp_path).price("anthropic", "claude-haiku-4-5", usage, AT)

    assert price.cost_usd == (1_000 * 1 + 1_000 * 5) / M
    assert price.price_ref == f"{PRICE_DATA}:anthropic/claude-haiku-4-5"


def test_default_name_is_the_content_hash(tmp_path: Path) -> None:
    result = import_price_data(crafted_file(tmp_path), tmp_path / "d")

    assert result.name.startswith("sha-") and len(result.name) == 16
    meta = json.loads((tmp_path / "d" / PRICES_DIR / ACTIVE_FILE).read_text())
    assert meta["name"] == result.name


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"not JSON \(line 1, column 2"),
        ('{"id": "x"}', r"expected a non-empty JSON array of providers"),
        ("[]", r"expected a non-empty JSON array"),
        ('[{"id": "x"}]', r"not genai-prices data \(\d+ problems, first: 0\.name"),
        (
            '[{"id":"x","name":"X","api_pattern":"x","models":[{"id":"m",'
            '"match":{"equals":"m"},"prices":{"input_mtok":-1}}]}]',
            r"x/m cannot be priced",
        ),
    ],
)
def test_bad_price_files_are_refused_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)

    with pytest.raises(InputError, match=message):
        read_price_file(path)
    with pytest.raises(InputError):
        import_price_data(path, tmp_path / "data")
    assert not (tmp_path / "data" / PRICES_DIR / ACTIVE_FILE).exists()


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read it"):
        read_price_file(tmp_path / "nope.json")
