"""Adding usage up: None means unreported, and models are remembered within bounds."""

from __future__ import annotations

from spendtap.event import Usage
from spendtap.providers.usage_totals import MAX_MODELS, ModelTotals, add_usage


def test_fields_add_and_unreported_ones_stay_none() -> None:
    total = add_usage(
        Usage(input_tokens=5, cache_read_tokens=None, output_tokens=2),
        Usage(input_tokens=7, cache_read_tokens=3, output_tokens=None),
    )

    assert total == Usage(input_tokens=12, cache_read_tokens=3, output_tokens=2)


def test_one_model_is_named_and_several_are_not() -> None:
    totals = ModelTotals()
    totals.add("m1", Usage(input_tokens=1))
    totals.add("m1", Usage(input_tokens=2))
    one = totals.model
    totals.add("m2", Usage(input_tokens=4))

    assert (one, totals.model, totals.models) == ("m1", None, ("m1", "m2"))
    assert totals.usage == Usage(input_tokens=7)
    assert totals.calls == 3


def test_too_many_models_are_not_all_remembered() -> None:
    totals = ModelTotals()
    for i in range(MAX_MODELS * 3):
        totals.add(f"m{i}", Usage())

    assert len(totals.models) == MAX_MODELS
    assert totals.model is None
