"""Bedrock model identifiers: geo prefixes, vendor ids and inference profiles.

A Bedrock request names its model in the URL path, percent-encoded, as one of:

- a foundation model id: ``anthropic.claude-haiku-4-5-20251001-v1:0``,
  ``amazon.nova-micro-v1:0``;
- a cross-region inference profile, the same id behind a geo prefix: ``us.``, ``eu.``,
  ``apac.``, ``global.`` and the like;
- an ARN: ``arn:aws:bedrock:<region>::foundation-model/<id>``,
  ``arn:aws:bedrock:<region>:<account>:inference-profile/<profile id>``, or an
  application inference profile (``application-inference-profile/<id>``), provisioned
  or custom model whose id says nothing about the model behind it.

``resolve_model_id`` turns any of these into the model as its vendor names it
(``claude-haiku-4-5-20251001`` for Claude; other vendors keep their Bedrock id, which
is their own, without the geo prefix) and the geo or region that can change the price.

Which model an application inference profile runs is not on the wire. The collector's
configuration says it through ``configure_inference_profiles``: a mapping from the
profile's ARN, or its bare id, to a model id in any of the forms above (a geo prefix in
it sets the region). Without an entry the profile id itself is the model, so the call
is recorded and reported as unpriced rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote

from spendtap.errors import ConfigError

#: Geo prefixes of cross-region inference profiles.
GEO_PREFIXES = frozenset(
    {"us", "us-gov", "eu", "apac", "jp", "au", "ca", "in", "global"}
)

#: ARN resource types whose id is itself a model or system inference profile id.
_MODEL_ARN_KINDS = frozenset({"foundation-model", "inference-profile"})

_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]*):(?P<account>[0-9]*):"
    r"(?P<kind>[a-z-]+)/(?P<id>.+)$"
)

#: Bedrock's version suffix on a Claude id: ``-v1:0`` (a context variant ``:200k``
#: may follow), or a bare ``-v2`` after a release date.
_CLAUDE_VERSION = re.compile(r"-v\d+:\d+(?::[0-9a-z]+)?$|(?<=-\d{8})-v\d+$")

_profile_models: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BedrockModel:
    """A model id from a Bedrock URL, resolved."""

    #: As the client asked for it, percent-decoded.
    requested: str
    #: The vendor's own id, or the profile id when nothing says which model it runs.
    model: str
    #: The geo prefix (``us``, ``global``) or the ARN's region, when either is known.
    region: str | None


def resolve_model_id(raw: str) -> BedrockModel | None:
    """Resolve the model segment of a Bedrock URL path; None when it is empty."""
    requested = unquote(raw).strip()
    if not requested:
        return None
    arn = _ARN.match(requested)
    mapped = _mapped(requested, arn["id"] if arn else None)
    if mapped is not None:
        model, geo = normalise_model_id(mapped)
        return BedrockModel(requested, model, geo or (arn["region"] if arn else None))
    if arn is None:
        model, geo = normalise_model_id(requested)
        return BedrockModel(requested, model, geo)

    arn_region = arn["region"] or None
    if arn["kind"] in _MODEL_ARN_KINDS:
        model, geo = normalise_model_id(arn["id"])
        return BedrockModel(requested, model, geo or arn_region)
    return BedrockModel(requested, arn["id"], arn_region)


def normalise_model_id(model_id: str) -> tuple[str, str | None]:
    """(vendor model id, geo prefix) of a Bedrock model or system profile id.

    ``us.anthropic.claude-haiku-4-5-20251001-v1:0`` gives
    ``("claude-haiku-4-5-20251001", "us")``; ``amazon.nova-micro-v1:0`` gives
    ``("amazon.nova-micro-v1:0", None)``.
    """
    geo: str | None = None
    prefix, dot, rest = model_id.partition(".")
    if dot and prefix in GEO_PREFIXES and "." in rest:
        geo, model_id = prefix, rest
    vendor, dot, name = model_id.partition(".")
    if vendor == "anthropic" and dot and name:
        return _CLAUDE_VERSION.sub("", name), geo
    return model_id, geo


def configure_inference_profiles(mapping: Mapping[str, str]) -> None:
    """Say which model each application inference profile (or custom model) runs.

    Keys are a profile's ARN or its bare id; values a model id as Bedrock or the
    vendor writes it (``us.anthropic.claude-sonnet-4-5-20250929-v1:0``,
    ``claude-sonnet-4-5-20250929``). The mapping replaces the one set before.
    """
    checked: dict[str, str] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(
                f"inference profile key {key!r} is empty or not text: use the "
                "profile's ARN or its id"
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"inference profile {key!r} maps to {value!r}: give a model id such "
                "as 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'"
            )
        checked[key.strip()] = value.strip()
    global _profile_models
    _profile_models = MappingProxyType(checked)


def inference_profiles() -> Mapping[str, str]:
    """The profile-to-model mapping in force (read-only)."""
    return _profile_models


def _mapped(requested: str, arn_id: str | None) -> str | None:
    profiles = _profile_models
    found = profiles.get(requested)
    if found is None and arn_id is not None:
        found = profiles.get(arn_id)
    return found
