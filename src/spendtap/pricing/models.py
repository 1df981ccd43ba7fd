"""Model ids as providers send them, normalised to the vendor's own id.

One function, :func:`normalise_model`, turns every spelling we meet into the id the
model's vendor uses, and says which steps it took (``prices show`` prints them):

- Vertex AI: ``claude-haiku-4-5@20251001`` → ``claude-haiku-4-5-20251001``;
  ``claude-haiku-4-5@default`` → ``claude-haiku-4-5``; a ``publishers/…/models/``
  path prefix is dropped.
- Bedrock: ``us.anthropic.claude-haiku-4-5-20251001-v1:0`` →
  ``claude-haiku-4-5-20251001`` with region ``us``; foundation-model and
  system-defined inference-profile ARNs are read; an application inference profile
  ARN names no model and is resolved through a configured alias (``[[alias]]`` in the
  price sheet) or left as it is, unresolved.
- Gemini: ``models/gemini-2.0-flash-001`` → ``gemini-2.0-flash``.
- Azure OpenAI: a deployment name is resolved through a configured alias; the parser
  passes the served model from the response body when it has it.
- ``-latest`` and other moving aliases resolve, by the call's date, to the dated model
  they pointed to then (:data:`DATED_ALIASES`).

Normalising never fails: an id we cannot read is returned as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote

#: Geography prefixes of Bedrock cross-region inference profiles.
BEDROCK_GEOS = ("us-gov", "global", "apac", "us", "eu", "au", "jp", "ca", "in")

_BEDROCK_PROVIDERS = frozenset({"aws.bedrock"})
_GOOGLE_PROVIDERS = frozenset({"gcp.vertex_ai", "gcp.gemini", "gcp.gen_ai"})

_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]*):(?P<account>\d*):"
    r"(?P<kind>[a-z-]+)/(?P<rest>.+)$"
)
_BEDROCK_ID = re.compile(
    r"^(?:(?P<geo>" + "|".join(re.escape(g) for g in BEDROCK_GEOS) + r")\.)?"
    r"anthropic\.(?P<model>claude-.+?)(?:-v\d+(?::\d+)*(?::\d+k)?)?$"
)
_VERTEX_PATH = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/"
)
_VERTEX_VERSION = re.compile(r"@(?P<version>[^/@]*)$")
_EIGHT_DIGITS = re.compile(r"^\d{8}$")
_GOOGLE_REVISION = re.compile(r"-0\d\d$")


@dataclass(frozen=True, slots=True)
class ModelId:
    """A normalised model id, the region its spelling implied, and how we got there.

    ``resolved`` is False when the id names no model by itself (an application
    inference profile ARN with no alias configured).
    """

    model: str
    region: str | None = None
    steps: tuple[str, ...] = ()
    resolved: bool = True
    #: Spellings to look the price up by when ``model`` is not in the price data
    #: (a Gemini name whose ``-001`` is part of the name, not a revision).
    alternates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alias:
    """``name`` means ``model`` for calls of ``provider`` in [valid_from, valid_until).

    ``provider`` None matches every provider; dates None leave that end open.
    ``origin`` names where the alias was defined (for ``prices show``).
    """

    name: str
    model: str
    provider: str | None = None
    region: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    origin: str = "built-in"
    source: str | None = None

    def applies(self, provider: str, name: str, day: date | None) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        if self.name.lower() != name.lower():
            return False
        if day is None:
            return self.valid_until is None
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day < self.valid_until


_ANTHROPIC_MODELS = "https://platform.claude.com/docs/en/about-claude/models/overview"
_GPT_4O = "https://platform.openai.com/docs/models/gpt-4o"

#: Moving aliases whose target changed over time, resolved by the call's date.
#: Each entry is one period of one alias; the periods of an alias do not overlap.
DATED_ALIASES: tuple[Alias, ...] = (
    Alias(
        "claude-3-5-sonnet-latest",
        "claude-3-5-sonnet-20240620",
        valid_until=date(2024, 10, 22),
        source=_ANTHROPIC_MODELS,
    ),
    Alias(
        "claude-3-5-sonnet-latest",
        "claude-3-5-sonnet-20241022",
        valid_from=date(2024, 10, 22),
        source=_ANTHROPIC_MODELS,
    ),
    Alias(
        "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", source=_ANTHROPIC_MODELS
    ),
    Alias(
        "claude-3-7-sonnet-latest",
        "claude-3-7-sonnet-20250219",
        source=_ANTHROPIC_MODELS,
    ),
    Alias("claude-3-opus-latest", "claude-3-opus-20240229", source=_ANTHROPIC_MODELS),
    # `gpt-4o` moved from the 2024-05-13 snapshot ($5/$15) to 2024-08-06 ($2.50/$10).
    Alias(
        "gpt-4o",
        "gpt-4o-2024-05-13",
        provider="openai",
        valid_until=date(2024, 10, 2),
        source=_GPT_4O,
    ),
    Alias(
        "gpt-4o",
        "gpt-4o-2024-05-13",
        provider="azure.ai.openai",
        valid_until=date(2024, 10, 2),
        source=_GPT_4O,
    ),
)


def normalise_model(
    provider: str,
    model: str,
    *,
    day: date | None = None,
    aliases: Iterable[Alias] = (),
) -> ModelId:
    """The vendor's own id for ``model`` as ``provider`` spelled it on ``day``.

    ``aliases`` (from the customer's price sheet) are tried before anything else, on
    the raw and on the normalised spelling; the built-in :data:`DATED_ALIASES` last.
    """
    provider = provider.strip().lower()
    steps: list[str] = []
    name = model.strip()
    if "%" in name:
        decoded = unquote(name)
        if decoded != name:
            steps.append("URL-decoded")
            name = decoded

    configured = tuple(aliases)
    aliased = _alias(provider, name, day, configured, steps)
    if aliased is not None:
        return aliased

    region: str | None = None
    resolved = True
    alternates: tuple[str, ...] = ()
    if provider in _BEDROCK_PROVIDERS or name.startswith("arn:aws"):
        name, region, resolved = _bedrock(name, steps)
    if provider in _GOOGLE_PROVIDERS:
        name, alternates = _google(name, steps)

    if name != model.strip():
        aliased = _alias(provider, name, day, configured, steps)
        if aliased is not None:
            return ModelId(aliased.model, aliased.region or region, aliased.steps)
    dated = _alias(provider, name, day, DATED_ALIASES, steps)
    if dated is not None:
        return ModelId(dated.model, dated.region or region, dated.steps, resolved)
    return ModelId(name, region, tuple(steps), resolved, alternates)


def _alias(
    provider: str,
    name: str,
    day: date | None,
    aliases: tuple[Alias, ...],
    steps: list[str],
) -> ModelId | None:
    for alias in aliases:
        if alias.applies(provider, name, day):
            step = f"alias {name} → {alias.model} ({alias.origin})"
            return ModelId(alias.model, alias.region, (*steps, step))
    return None


def _bedrock(name: str, steps: list[str]) -> tuple[str, str | None, bool]:
    """(model, region, resolved) from a Bedrock model id, profile id or ARN."""
    region: str | None = None
    arn = _ARN.match(name)
    if arn is not None:
        kind, rest = arn["kind"], arn["rest"]
        region = arn["region"] or None
        if kind not in ("foundation-model", "inference-profile"):
            steps.append(f"{kind} ARN names no model: configure an alias")
            return name, region, False
        steps.append(f"{kind} ARN → {rest}")
        name = rest

    match = _BEDROCK_ID.match(name)
    if match is None:
        return name, region, True
    if match["geo"]:
        region = match["geo"]
        steps.append(f"geo prefix {match['geo']}. → region {region}")
    steps.append(f"Bedrock id {name} → {match['model']}")
    return match["model"], region, True


def _google(name: str, steps: list[str]) -> tuple[str, tuple[str, ...]]:
    """(model, alternates) for a Gemini or Vertex model name."""
    path = _VERTEX_PATH.match(name)
    if path is not None:
        name = name[path.end() :]
        steps.append("dropped publishers/…/models/ path")
    if name.startswith("models/"):
        name = name.removeprefix("models/")
        steps.append("dropped models/ prefix")

    version = _VERTEX_VERSION.search(name)
    if version is not None:
        bare = name[: version.start()]
        tag = version["version"]
        if _EIGHT_DIGITS.match(tag):
            steps.append(f"Vertex @{tag} → -{tag}")
            name = f"{bare}-{tag}"
        else:
            steps.append(f"dropped Vertex @{tag}")
            name = bare

    embedding = name.startswith("gemini-embedding-")  # its -001 is its name
    if name.startswith("gemini-") and not embedding and _GOOGLE_REVISION.search(name):
        revision = name[-4:]
        steps.append(f"dropped revision {revision}")
        return name[:-4], (name,)
    return name, ()


def region_is_global(region: str | None) -> bool:
    """True for the global endpoint or profile (no regional premium)."""
    return region is not None and region.strip().lower() == "global"


def region_is_regional(region: str | None) -> bool:
    """True for a regional or multi-region (geo) endpoint: one that may cost more.

    An unknown region (None) is not counted as regional.
    """
    return region is not None and not region_is_global(region) and bool(region.strip())
