"""Dated corrections to the bundled price data, each with its source.

genai-prices is the base; it lacks some prices (FIELD-NOTES.md, "Prices"). A rule
here supplies one such price for the providers, models, dates, service tiers and
regions it names. Most rules apply only where the data itself is silent (``when``),
so a newer genai-prices that fills the gap takes over and the rule stops showing up
in ``price_ref``. Every rule has a test in ``tests/pricing/test_corrections.py``
and a line in ``docs/pricing.md``.

Rules apply in the order of :data:`RULES`: derived rates first, then prompt-size
tiers, then tier discounts and regional uplifts, then per-request fees.
"""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from spendtap.pricing.models import region_is_regional
from spendtap.pricing.rates import Rates

INPUT_SIDE = ("input", "cache_read", "cache_write_5m", "cache_write_1h")
OUTPUT_SIDE = ("output", "reasoning")
TOKEN_FIELDS = INPUT_SIDE + OUTPUT_SIDE


class When(enum.StrEnum):
    """The gap in the data a rule fills; it does nothing where the data has a price."""

    ALWAYS = "always"
    NO_1H_WRITE_PRICE = "no_1h_write_price"
    NO_PROMPT_TIERS = "no_prompt_tiers"
    NO_TIER_PRICE = "no_tier_price"
    NO_WEB_SEARCH_PRICE = "no_web_search_price"


@dataclass(frozen=True, slots=True)
class DataFacts:
    """What the bundled data says for one model, day and service tier."""

    has_1h_write: bool
    has_prompt_tiers: bool
    has_tier_price: bool
    has_web_search: bool

    def lacks(self, when: When) -> bool:
        gaps = {
            When.ALWAYS: True,
            When.NO_1H_WRITE_PRICE: not self.has_1h_write,
            When.NO_PROMPT_TIERS: not self.has_prompt_tiers,
            When.NO_TIER_PRICE: not self.has_tier_price,
            When.NO_WEB_SEARCH_PRICE: not self.has_web_search,
        }
        return gaps[when]


@dataclass(frozen=True, slots=True)
class Derive:
    """``field`` costs ``factor`` times ``base`` (in the same prompt-size band)."""

    field: str
    base: str
    factor: Decimal

    def apply(self, rates: Rates) -> Rates:
        return rates.with_rate(self.field, rates.rate(self.base) * self.factor)

    def describe(self) -> str:
        return f"{self.field} = {self.factor} x {self.base}"

    def describe_field(self, field: str) -> str:
        return f"= {self.factor} x {self.base}"


@dataclass(frozen=True, slots=True)
class Scale:
    """Multiply ``fields`` by their factor; with ``above``, only for prompts larger
    than that many tokens (the whole call, as long-context pricing does)."""

    factors: tuple[tuple[str, Decimal], ...]
    above: int | None = None

    def apply(self, rates: Rates) -> Rates:
        for field, factor in self.factors:
            rates = rates.with_rate(field, rates.rate(field) * factor)
        return rates

    def describe(self) -> str:
        parts = ", ".join(f"{field} x{factor}" for field, factor in self.factors)
        return parts if self.above is None else f"prompt > {self.above:,}: {parts}"

    def describe_field(self, field: str) -> str:
        factor = dict(self.factors)[field]
        return f"x{factor}" if self.above is None else f"x{factor} over {self.above:,}"


@dataclass(frozen=True, slots=True)
class SetRate:
    """``field`` costs ``usd`` per unit (a per-request fee such as a web search)."""

    field: str
    usd: Decimal

    def apply(self, rates: Rates) -> Rates:
        return rates.with_rate(self.field, self.usd)

    def describe(self) -> str:
        return f"{self.field} = ${self.usd} each"

    def describe_field(self, field: str) -> str:
        return f"${self.usd} each"


Change = Derive | Scale | SetRate


@dataclass(frozen=True, slots=True)
class Rule:
    """One correction: where it applies, what it changes, and who says so.

    ``models`` and ``exclude`` are shell patterns on the normalised model id.
    ``valid_until`` is exclusive. ``tiers`` limits the rule to those service tiers
    (``standard`` for calls without one). ``regional_only`` limits it to regional
    and multi-region endpoints.
    """

    id: str
    title: str
    providers: frozenset[str]
    models: tuple[str, ...]
    change: Change
    source: str
    exclude: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    tiers: frozenset[str] | None = None
    regional_only: bool = False
    when: When = When.ALWAYS

    def covers(
        self, provider: str, model: str, day: date, tier: str, region: str | None
    ) -> bool:
        """True when the call is inside this rule's scope (data gaps aside)."""
        if provider not in self.providers:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_until is not None and day >= self.valid_until:
            return False
        if self.tiers is not None and tier not in self.tiers:
            return False
        if self.regional_only and not region_is_regional(region):
            return False
        name = model.lower()
        if not any(fnmatch.fnmatchcase(name, p) for p in self.models):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)


ANTHROPIC_FAMILY = frozenset(
    {
        "anthropic",
        "gcp.vertex_ai",
        "aws.bedrock",
        "azure.ai.inference",
        "azure.ai.openai",
    }
)
CLAUDE = ("claude-*",)
HALF = Decimal("0.5")


def _all(fields: tuple[str, ...], factor: Decimal) -> tuple[tuple[str, Decimal], ...]:
    return tuple((field, factor) for field in fields)


_PROMPT_CACHING = (
    "https://platform.claude.com/docs/en/build-with-claude/prompt-caching#pricing"
)
_LONG_CONTEXT = (
    "https://platform.claude.com/docs/en/about-claude/pricing#long-context-pricing"
)
_ONE_M_GA = "https://claude.com/blog/1m-context-ga"
_VERTEX_ENDPOINTS = (
    "https://platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai"
    "#global-vs-regional-endpoints"
)
_VERTEX_PRICING = (
    "https://cloud.google.com/vertex-ai/generative-ai/pricing#claude-models"
)
_BEDROCK_PRICING = "https://aws.amazon.com/bedrock/pricing/"
_ANTHROPIC_BATCH = (
    "https://platform.claude.com/docs/en/build-with-claude/batch-processing#pricing"
)
_OPENAI_BATCH = "https://platform.openai.com/docs/guides/batch"
_OPENAI_FLEX = "https://platform.openai.com/docs/guides/flex-processing"
_GEMINI_BATCH = "https://ai.google.dev/gemini-api/docs/batch-mode"
_WEB_SEARCH = (
    "https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool"
)

#: Claude models older than Sonnet 4.5, which keep one price on every Vertex endpoint.
_PRE_SONNET_45 = (
    "claude-2*",
    "claude-instant*",
    "claude-3*",
    "claude-sonnet-4",
    "claude-sonnet-4-0*",
    "claude-sonnet-4-2025*",
    "claude-opus-4",
    "claude-opus-4-0*",
    "claude-opus-4-2025*",
    "claude-opus-4-1*",
)

_LONG_CONTEXT_FACTORS = _all(INPUT_SIDE, Decimal(2)) + _all(OUTPUT_SIDE, Decimal("1.5"))

RULES: tuple[Rule, ...] = (
    Rule(
        id="R001",
        title="1-hour cache writes cost 2x base input where the data prices them as 5-minute",
        providers=ANTHROPIC_FAMILY,
        models=CLAUDE,
        change=Derive("cache_write_1h", "input", Decimal(2)),
        source=_PROMPT_CACHING,
        when=When.NO_1H_WRITE_PRICE,
    ),
    Rule(
        id="R002",
        title="Sonnet 4 and 4.5 prompts over 200k tokens: input x2, output x1.5 (whole call)",
        providers=ANTHROPIC_FAMILY,
        models=(
            "claude-sonnet-4",
            "claude-sonnet-4-0*",
            "claude-sonnet-4-2025*",
            "claude-sonnet-4-5*",
        ),
        change=Scale(_LONG_CONTEXT_FACTORS, above=200_000),
        source=_LONG_CONTEXT,
        valid_from=date(2025, 8, 12),
        valid_until=date(2026, 4, 30),
        when=When.NO_PROMPT_TIERS,
    ),
    Rule(
        id="R003",
        title="Opus 4.6 and Sonnet 4.6 prompts over 200k tokens before the 1M GA: input x2, output x1.5",
        providers=ANTHROPIC_FAMILY,
        models=("claude-opus-4-6*", "claude-sonnet-4-6*"),
        change=Scale(_LONG_CONTEXT_FACTORS, above=200_000),
        source=_ONE_M_GA,
        valid_until=date(2026, 3, 13),
        when=When.NO_PROMPT_TIERS,
    ),
    Rule(
        id="R004",
        title="Claude batch (Message Batches) at 50% of standard, cache included, before the data has it",
        providers=frozenset({"anthropic"}),
        models=CLAUDE,
        change=Scale(_all(TOKEN_FIELDS, HALF)),
        source=_ANTHROPIC_BATCH,
        valid_from=date(2024, 10, 8),
        tiers=frozenset({"batch"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R005",
        title="Claude batch prediction on Vertex AI at 50% of standard, cache included",
        providers=frozenset({"gcp.vertex_ai"}),
        models=CLAUDE,
        change=Scale(_all(TOKEN_FIELDS, HALF)),
        source=_VERTEX_PRICING,
        tiers=frozenset({"batch"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R006",
        title="Claude batch inference on Bedrock at 50% of on-demand",
        providers=frozenset({"aws.bedrock"}),
        models=CLAUDE,
        change=Scale(_all(TOKEN_FIELDS, HALF)),
        source=_BEDROCK_PRICING,
        tiers=frozenset({"batch"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R007",
        title="OpenAI Batch API at 50% of standard input and output",
        providers=frozenset({"openai", "azure.ai.openai"}),
        models=("*",),
        change=Scale(_all(("input", *OUTPUT_SIDE), HALF)),
        source=_OPENAI_BATCH,
        valid_from=date(2024, 4, 15),
        tiers=frozenset({"batch"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R008",
        title="OpenAI flex processing at Batch API rates (50% of standard)",
        providers=frozenset({"openai"}),
        models=("*",),
        change=Scale(_all(TOKEN_FIELDS, HALF)),
        source=_OPENAI_FLEX,
        valid_from=date(2025, 4, 17),
        tiers=frozenset({"flex"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R009",
        title="Gemini batch mode at 50% of standard input and output (context caching unchanged)",
        providers=frozenset({"gcp.gemini", "gcp.vertex_ai"}),
        models=("gemini-*",),
        change=Scale(_all(("input", *OUTPUT_SIDE), HALF)),
        source=_GEMINI_BATCH,
        valid_from=date(2025, 7, 7),
        tiers=frozenset({"batch"}),
        when=When.NO_TIER_PRICE,
    ),
    Rule(
        id="R010",
        title="Claude Sonnet 4.5 and later on Vertex AI regional or multi-region endpoints: +10%",
        providers=frozenset({"gcp.vertex_ai"}),
        models=CLAUDE,
        exclude=_PRE_SONNET_45,
        change=Scale(_all(TOKEN_FIELDS, Decimal("1.1"))),
        source=_VERTEX_ENDPOINTS,
        valid_from=date(2025, 9, 29),
        regional_only=True,
    ),
    Rule(
        id="R011",
        title="Claude web search on Vertex AI at $10 per 1,000 searches",
        providers=frozenset({"gcp.vertex_ai"}),
        models=CLAUDE,
        change=SetRate("web_search", Decimal("0.01")),
        source=_VERTEX_PRICING,
        when=When.NO_WEB_SEARCH_PRICE,
    ),
    Rule(
        id="R012",
        title="Claude web search at $10 per 1,000 searches on Anthropic and Microsoft Foundry",
        providers=frozenset({"anthropic", "azure.ai.inference", "azure.ai.openai"}),
        models=CLAUDE,
        change=SetRate("web_search", Decimal("0.01")),
        source=_WEB_SEARCH,
        when=When.NO_WEB_SEARCH_PRICE,
    ),
)


def rule_by_id(rule_id: str) -> Rule:
    """The built-in rule with this id; KeyError when there is none."""
    for rule in RULES:
        if rule.id == rule_id:
            return rule
    raise KeyError(rule_id)
