"""The customer's price sheet: parsing, its error messages, and its effect on prices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from spendtap.errors import ConfigError
from spendtap.event import CostStatus, Usage
from spendtap.pricing import PRICE_DATA, Pricer, load_sheet, parse_sheet

M = Decimal(1_000_000)
D = Decimal
AT = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)

SHEET = """\
name = "acme-2026"

[[discount]]
id = "aws-edp"
provider = "aws.bedrock"
percent = 10

[[discount]]
id = "aws-haiku"
provider = "aws.bedrock"
model = "claude-haiku-*"
percent = 25
from = 2025-01-01
until = 2026-01-01

[[override]]
id = "sonnet-5-actual"
provider = "anthropic"
model = "claude-sonnet-5*"
input = 3
output = 15.0
cache_read = 0.3

[[private_model]]
id = "acme-llama"
provider = "acme-gateway"
model = "acme-llama-70b"
input = 0.5
output = 1.5

[[alias]]
provider = "aws.bedrock"
name = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2"
model = "claude-sonnet-4-5-20250929"
region = "us"
"""


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer(sheet=parse_sheet(SHEET))


def test_sheet_parses_every_kind_of_entry() -> None:
    sheet = parse_sheet(SHEET)

    assert sheet.name == "acme-2026"
    assert [d.id for d in sheet.discounts] == ["aws-edp", "aws-haiku"]
    assert sheet.discounts[1].scope.valid_from == date(2025, 1, 1)
    assert sheet.overrides[0].rates.get("input") == D(3) / M
    assert sheet.private_models[0].rates.get("output") == D("1.5") / M
    assert sheet.aliases[0].model == "claude-sonnet-4-5-20250929"


def test_a_discount_applies_to_every_rate_of_its_provider(pricer: Pricer) -> None:
    # Bedrock regional claude-sonnet-4-5-20250929: 3.3 / 16.5, less 10%
    usage = Usage(input_tokens=10_000, output_tokens=1_000)

    price = pricer.price(
        "aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", usage, AT
    )

    assert price.cost_usd == (10_000 * D("3.3") + 1_000 * D("16.5")) / M * D("0.9")
    assert price.price_ref == (
        f"{PRICE_DATA}:aws/regional.anthropic.claude-sonnet-4-5-20250929-v1:0"
        ";sheet=acme-2026:aws-edp"
    )


def test_the_most_specific_discount_wins_inside_its_dates(pricer: Pricer) -> None:
    # Bedrock regional haiku-4-5: 1.1 / 5.5; the model discount (25%) beats the
    # provider one (10%) in 2025, and has ended in 2026
    usage = Usage(input_tokens=10_000, output_tokens=1_000)
    model = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    list_cost = (10_000 * D("1.1") + 1_000 * D("5.5")) / M

    in_2025 = pricer.price("aws.bedrock", model, usage, AT)
    in_2026 = pricer.price(
        "aws.bedrock", model, usage, datetime(2026, 2, 1, tzinfo=UTC)
    )

    assert in_2025.cost_usd == list_cost * D("0.75")
    assert in_2025.price_ref is not None and in_2025.price_ref.endswith(":aws-haiku")
    assert in_2026.cost_usd == list_cost * D("0.9")


def test_an_override_replaces_list_rates(pricer: Pricer) -> None:
    # claude-sonnet-5: the data says 2 / 10 / 0.2 read; the sheet says 3 / 15 / 0.3
    usage = Usage(
        input_tokens=10_000,
        cache_read_tokens=5_000,
        output_tokens=1_000,
        reasoning_tokens=400,
    )

    price = pricer.price(
        "anthropic", "claude-sonnet-5", usage, datetime(2026, 8, 1, tzinfo=UTC)
    )

    assert price.cost_usd == (10_000 * 3 + 5_000 * D("0.3") + 1_000 * 15) / M
    assert price.price_ref == (
        f"{PRICE_DATA}:anthropic/claude-sonnet-5;sheet=acme-2026:sonnet-5-actual"
    )


def test_a_private_model_is_priced_from_the_sheet(pricer: Pricer) -> None:
    # cache reads of a private model without a cache rate cost input
    usage = Usage(input_tokens=1_000, cache_read_tokens=1_000, output_tokens=2_000)

    price = pricer.price("acme-gateway", "acme-llama-70b", usage, AT)

    assert price.cost_usd == (2_000 * D("0.5") + 2_000 * D("1.5")) / M
    assert price.cost_status is CostStatus.PRICED
    assert price.price_ref == "sheet=acme-2026:acme-llama"


def test_an_alias_resolves_a_bedrock_application_profile(pricer: Pricer) -> None:
    arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2"
    usage = Usage(input_tokens=10_000, output_tokens=1_000)

    price = pricer.price("aws.bedrock", arn, usage, AT)
    unmapped = Pricer().price("aws.bedrock", arn, usage, AT)

    assert price.cost_usd == (10_000 * D("3.3") + 1_000 * D("16.5")) / M * D("0.9")
    assert unmapped.cost_usd is None
    assert unmapped.cost_status is CostStatus.UNPRICED


def test_sheet_is_read_from_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "prices.toml").write_text(SHEET)
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    price = Pricer(data_dir=tmp_path).price("acme-gateway", "acme-llama-70b", usage, AT)

    assert price.cost_usd == (1_000 * D("0.5") + 1_000 * D("1.5")) / M


def test_load_sheet_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the price sheet"):
        load_sheet(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = \n", r"prices\.toml: not valid TOML: .*line 1"),
        (
            'name = "x"\n[[discount]]\nid = "a"\npercent = 120\n',
            r"prices\.toml:4: discount\[1\]\.percent: percent is 120; give a number above 0 and at most 100",
        ),
        (
            'name = "x"\n[[discount]]\nid = "a"\nprecent = 12\n',
            r"prices\.toml:4: discount\[1\]\.precent: unknown key 'precent'; use one of ",
        ),
        ("percent = 1\n", r"prices\.toml:1: percent: unknown key"),
        (
            '[[discount]]\nid = "a"\npercent = 5\n',
            r"prices\.toml: name: name is None; give the sheet a short name",
        ),
        (
            'name = "x"\n[[override]]\nid = "o"\nmodel = "m"\ninput = -1\n',
            r"prices\.toml:5: override\[1\]\.input: input is -1; give a price as a non-negative number",
        ),
        (
            'name = "x"\n[[override]]\nid = "o"\nmodel = "m"\n',
            r"override\[1\]\.input: override sets no rate",
        ),
        (
            'name = "x"\n[[private_model]]\nid = "p"\nmodel = "m"\ninput = 1\n',
            r"private_model\[1\]\.input: a private model needs at least input and output",
        ),
        (
            'name = "x"\n[[discount]]\nid = "a"\npercent = 5\nfrom = "2026-01-01"\n',
            r"prices\.toml:5: discount\[1\]\.from: from is '2026-01-01'; write a TOML date without quotes",
        ),
        (
            'name = "x"\n[[discount]]\nid = "a"\npercent = 5\nfrom = 2026-01-01\nuntil = 2025-01-01\n',
            r"discount\[1\]\.until: until 2025-01-01 is not after from 2026-01-01",
        ),
        (
            'name = "x"\n[[discount]]\nid = "a"\npercent = 5\n[[discount]]\nid = "a"\npercent = 6\n',
            r"id 'a' is used twice; give every entry its own id",
        ),
        (
            'name = "x"\n[[alias]]\nname = "n"\n',
            r"prices\.toml:2: alias\[1\]\.model: model is missing",
        ),
        (
            'name = "x"\n[[discount]]\npercent = 5\n',
            r"prices\.toml:2: discount\[1\]\.id: id is None",
        ),
    ],
)
def test_sheet_errors_name_the_file_line_key_and_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sheet(text)


def test_errors_name_the_sheet_path(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('name = "x"\n\n[[discount]]\nid = "a"\npercent = 0\n')

    with pytest.raises(ConfigError) as caught:
        load_sheet(path)

    assert str(caught.value).startswith(f"{path}:5: discount[1].percent: percent is 0")
