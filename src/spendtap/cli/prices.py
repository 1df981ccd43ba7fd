"""``spendtap prices``: explain a price, and load newer price data without a network.

- ``prices show MODEL [--provider P] [--at DATE] [--region R] [--tier T]`` prints the
  rates per million tokens, the prompt-size tiers, the rules and price-sheet entries
  that apply, and where each number came from.
- ``prices import FILE [--name NAME]`` checks a genai-prices JSON price file and makes
  it the price data of the data dir.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendtap.cli.paths import default_data_dir
from spendtap.errors import ConfigError

# The price data takes a tenth of a second to load: only these commands pay for it.
if TYPE_CHECKING:
    from spendtap.pricing import Pricer


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``prices show`` and ``prices import``."""
    prices = sub.add_parser("prices", help="explain prices; import newer price data")
    verbs = prices.add_subparsers(dest="prices_command", required=True, metavar="VERB")

    show = verbs.add_parser("show", help="explain the price of a model")
    show.add_argument(
        "model", metavar="MODEL", help="model id as any provider spells it"
    )
    show.add_argument(
        "--provider",
        help="who bills the call: anthropic, openai, aws.bedrock, gcp.vertex_ai, "
        "gcp.gemini, azure.ai.openai, openrouter, … (default: guessed from MODEL)",
    )
    show.add_argument(
        "--at", help="date or RFC 3339 time the price is for (default: now, UTC)"
    )
    show.add_argument(
        "--region", help="endpoint region or geo: global, us, us-east5, …"
    )
    show.add_argument("--tier", help="service tier: standard, batch, flex, priority")
    show.add_argument(
        "--json", action="store_true", help="print the explanation as JSON"
    )
    _add_sources(show)
    show.set_defaults(run=run_show)

    load = verbs.add_parser("import", help="load a genai-prices JSON price file")
    load.add_argument("file", type=Path, metavar="FILE", help="genai-prices data.json")
    load.add_argument("--name", help="label for this data in price_ref (default: hash)")
    load.add_argument("--data-dir", type=Path, default=None, help="where to store it")
    load.set_defaults(run=run_import)


def _add_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data dir with imported prices and prices.toml (default: the user data dir)",
    )
    p.add_argument(
        "--sheet", type=Path, help="price sheet to use instead of prices.toml"
    )


def run_show(args: argparse.Namespace) -> int:
    from spendtap.pricing import Pricer
    from spendtap.pricing.explain import explain, render

    data_dir: Path = args.data_dir or default_data_dir()
    pricer = Pricer(data_dir=data_dir, sheet=args.sheet)
    at = parse_at(args.at)
    provider = args.provider or guess_provider(pricer, args.model)
    quote = pricer.quote(
        provider, args.model, at, service_tier=args.tier, region=args.region
    )
    if quote is None:
        raise ConfigError(
            f"no price for {args.model!r} on {provider} at {at:%Y-%m-%d}: the model is "
            "not in the price data; check the name and --provider, import newer data "
            "with `spendtap prices import FILE`, or add a [[private_model]] to "
            "prices.toml"
        )
    explanation = explain(pricer, args.model, quote, at)
    if args.json:
        print(json.dumps(explanation.to_json(), indent=2))
    else:
        sys.stdout.write(render(explanation))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from spendtap.pricing.snapshot import import_price_data

    data_dir: Path = args.data_dir or default_data_dir()
    result = import_price_data(args.file, data_dir, args.name)
    print(
        f"imported {result.name}: {result.providers} providers, {result.models} models"
    )
    print(f"stored at {result.path}")
    print(f"prices now name {result.label} in price_ref")
    if result.missing_providers:
        print(
            "warning: this data has no prices for "
            + ", ".join(result.missing_providers)
            + "; calls billed by them will be unpriced",
            file=sys.stderr,
        )
    return 0


def parse_at(text: str | None) -> datetime:
    """``--at`` as a UTC time: a date means its start; default now."""
    if not text:
        return datetime.now(UTC)
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time(), UTC)
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"--at {text!r} is not a date or time; write 2025-11-20 or "
            "2025-11-20T12:00:00Z"
        ) from exc
    return (
        parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    )


def guess_provider(pricer: Pricer, model: str) -> str:
    """Our provider name for the vendor whose model names look like ``model``."""
    from spendtap.pricing.provider_ids import GENAI_PROVIDER_IDS

    try:
        found = pricer.data.snapshot.find_provider(model.lower(), None, None)
    except LookupError as exc:
        raise ConfigError(
            f"cannot tell who bills {model!r}; pass --provider (anthropic, openai, "
            "aws.bedrock, gcp.vertex_ai, gcp.gemini, …)"
        ) from exc
    for ours, theirs in GENAI_PROVIDER_IDS.items():
        if theirs == found.id:
            return ours
    return found.id
