"""Report JSON: Decimals written with every digit, whatever writes the rest."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from spendtap.engine.exact_json import exact_json_bytes


def test_decimals_keep_every_digit_and_other_values_are_plain_json() -> None:
    value = {
        "cost_usd": Decimal("12345678.000000001"),
        "rows": [{"user": "zoë@acme.example", "calls": 3, "share": 0.25}],
        "tuple": (Decimal("0.10"), None, True),
    }

    text = exact_json_bytes(value)

    assert b'"cost_usd":12345678.000000001' in text
    assert b'"tuple":[0.10,null,true]' in text
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["cost_usd"] == Decimal("12345678.000000001")
    assert parsed["rows"][0] == {"user": "zoë@acme.example", "calls": 3, "share": 0.25}


def test_an_integer_past_64_bits_is_still_written_exactly() -> None:
    big = 2**70 + 1
    assert json.loads(exact_json_bytes({"n": big, "d": Decimal("1.5")})) == {
        "n": big,
        "d": 1.5,
    }


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity")])
def test_a_non_finite_decimal_is_an_error_not_invalid_json(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="has no JSON number"):
        exact_json_bytes({"cost_usd": bad})
