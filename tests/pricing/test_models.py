"""Model ids as providers spell them, normalised to the vendor's own id."""

from __future__ import annotations

from datetime import date

import pytest

from spendtap.pricing.models import (
    Alias,
    ModelId,
    normalise_model,
    region_is_global,
    region_is_regional,
)

ARN_ACCOUNT = "arn:aws:bedrock:us-east-1:123456789012"


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001"),
        ("claude-haiku-4-5@default", "claude-haiku-4-5"),
        ("claude-haiku-4-5", "claude-haiku-4-5"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2-20241022"),
        (
            "publishers/anthropic/models/claude-sonnet-4-5@20250929",
            "claude-sonnet-4-5-20250929",
        ),
        (
            "projects/p/locations/us-east5/publishers/anthropic/models/claude-opus-4-1@20250805",
            "claude-opus-4-1-20250805",
        ),
    ],
)
def test_vertex_versions_become_the_anthropic_id(raw: str, model: str) -> None:
    assert normalise_model("gcp.vertex_ai", raw).model == model


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-1.5-flash@001", "gemini-1.5-flash"),
        ("models/gemini-embedding-001", "gemini-embedding-001"),
    ],
)
def test_gemini_prefix_and_revision_are_dropped(raw: str, model: str) -> None:
    assert normalise_model("gcp.gemini", raw).model == model
    assert normalise_model("gcp.vertex_ai", raw).model == model


@pytest.mark.parametrize(
    ("raw", "model", "region"),
    [
        (
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5-20251001",
            "us",
        ),
        (
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5-20250929",
            "eu",
        ),
        (
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5-20250929",
            "global",
        ),
        (
            "apac.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "claude-3-5-sonnet-20241022",
            "apac",
        ),
        (
            "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
            "claude-3-haiku-20240307",
            "us-gov",
        ),
        (
            "anthropic.claude-3-sonnet-20240229-v1:0:200k",
            "claude-3-sonnet-20240229",
            None,
        ),
        ("anthropic.claude-opus-4-6-v1", "claude-opus-4-6", None),
        ("anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", None),
        ("meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0", None),
    ],
)
def test_bedrock_prefixes_and_suffixes(
    raw: str, model: str, region: str | None
) -> None:
    found = normalise_model("aws.bedrock", raw)

    assert (found.model, found.region, found.resolved) == (model, region, True)


def test_bedrock_foundation_model_arn_names_the_model_and_its_region() -> None:
    arn = "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"

    assert normalise_model("aws.bedrock", arn) == ModelId(
        "claude-3-haiku-20240307",
        "eu-west-1",
        (
            "foundation-model ARN → anthropic.claude-3-haiku-20240307-v1:0",
            "Bedrock id anthropic.claude-3-haiku-20240307-v1:0 → claude-3-haiku-20240307",
        ),
    )


def test_url_encoded_system_profile_arn_resolves_with_its_geo() -> None:
    raw = (
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
        "global.anthropic.claude-haiku-4-5-20251001-v1%3A0"
    )

    found = normalise_model("aws.bedrock", raw)

    assert (found.model, found.region) == ("claude-haiku-4-5-20251001", "global")
    assert found.steps[0] == "URL-decoded"


def test_application_profile_arn_is_unresolved_without_an_alias() -> None:
    arn = f"{ARN_ACCOUNT}:application-inference-profile/a1b2c3d4e5"

    found = normalise_model("aws.bedrock", arn)

    assert found.resolved is False
    assert found.model == arn  # reported as the profile id, never guessed


def test_application_profile_arn_resolves_through_a_configured_alias() -> None:
    arn = f"{ARN_ACCOUNT}:application-inference-profile/a1b2c3d4e5"
    alias = Alias(
        arn, "claude-sonnet-4-5-20250929", provider="aws.bedrock", region="us"
    )

    found = normalise_model("aws.bedrock", arn.replace(":", "%3A"), aliases=[alias])

    assert (found.model, found.region, found.resolved) == (
        "claude-sonnet-4-5-20250929",
        "us",
        True,
    )


def test_azure_deployment_name_resolves_through_an_alias_for_that_provider_only() -> (
    None
):
    alias = Alias("prod-gpt4o", "gpt-4o-2024-08-06", provider="azure.ai.openai")

    assert normalise_model("azure.ai.openai", "prod-gpt4o", aliases=[alias]).model == (
        "gpt-4o-2024-08-06"
    )
    assert (
        normalise_model("openai", "prod-gpt4o", aliases=[alias]).model == "prod-gpt4o"
    )


def test_a_dated_alias_applies_only_inside_its_dates() -> None:
    alias = Alias(
        "team-model",
        "gpt-4o-mini",
        valid_from=date(2025, 1, 1),
        valid_until=date(2025, 7, 1),
        origin="sheet acme",
    )

    inside = normalise_model(
        "openai", "team-model", day=date(2025, 3, 1), aliases=[alias]
    )
    after = normalise_model(
        "openai", "team-model", day=date(2025, 7, 1), aliases=[alias]
    )

    assert inside.model == "gpt-4o-mini"
    assert inside.steps == ("alias team-model → gpt-4o-mini (sheet acme)",)
    assert after.model == "team-model"


@pytest.mark.parametrize(
    ("day", "model"),
    [
        (date(2024, 8, 1), "claude-3-5-sonnet-20240620"),
        (date(2024, 10, 21), "claude-3-5-sonnet-20240620"),
        (date(2024, 10, 22), "claude-3-5-sonnet-20241022"),
        (date(2025, 6, 1), "claude-3-5-sonnet-20241022"),
    ],
)
def test_latest_alias_resolves_by_date(day: date, model: str) -> None:
    assert (
        normalise_model("anthropic", "claude-3-5-sonnet-latest", day=day).model == model
    )


def test_gpt_4o_before_october_2024_was_the_may_snapshot() -> None:
    before = normalise_model("openai", "gpt-4o", day=date(2024, 10, 1))
    after = normalise_model("openai", "gpt-4o", day=date(2024, 10, 2))
    undated = normalise_model("openai", "gpt-4o")

    assert before.model == "gpt-4o-2024-05-13"
    assert after.model == "gpt-4o"
    assert undated.model == "gpt-4o"


def test_openrouter_names_are_left_alone() -> None:
    raw = "anthropic/claude-sonnet-4.5"

    assert normalise_model("openrouter", raw) == ModelId(raw)


def test_region_kinds() -> None:
    assert region_is_global("global") and region_is_global("GLOBAL")
    assert not region_is_regional("global")
    assert region_is_regional("us") and region_is_regional("europe-west1")
    assert not region_is_regional(None) and not region_is_global(None)


def test_a_stripped_revision_stays_available_for_the_price_lookup() -> None:
    found = normalise_model("gcp.vertex_ai", "gemini-1.0-pro-vision-001")

    assert found.model == "gemini-1.0-pro-vision"
    assert found.alternates == ("gemini-1.0-pro-vision-001",)
