"""The customer's price sheet: discounts, dated rate overrides, private models, aliases.

A TOML file, ``<data-dir>/prices.toml`` by default::

    name = "acme-2026"                 # named in every price_ref it touches

    [[discount]]                       # a percentage off list price
    id = "aws-edp"
    provider = "aws.bedrock"           # optional: every provider when left out
    model = "claude-*"                 # optional shell pattern on the normalised id
    percent = 12.5
    from = 2026-01-01                  # optional, inclusive
    until = 2027-01-01                 # optional, exclusive

    [[override]]                       # replaces list rates, USD per million tokens
    id = "sonnet-5-actual"
    provider = "anthropic"
    model = "claude-sonnet-5*"
    input = 3
    output = 15

    [[private_model]]                  # a model no public price list has
    id = "acme-llama"
    provider = "acme-gateway"
    model = "acme-llama-70b"
    input = 0.5
    output = 1.5

    [[alias]]                          # a name that stands for a model
    provider = "aws.bedrock"
    name = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2"
    model = "claude-sonnet-4-5-20250929"
    region = "us"

Rates are ``input``, ``output``, ``cache_read``, ``cache_write_5m``,
``cache_write_1h`` (USD per million tokens) and ``web_search_per_1k`` (USD per
1,000 searches). Where several discounts match a call, the most specific wins
(model over provider over neither), and among equals the last in the file.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from spendtap.errors import ConfigError
from spendtap.pricing.models import Alias

SHEET_FILE = "prices.toml"

#: Rate keys of the sheet → (our count field, units per quoted amount).
RATE_KEYS: Mapping[str, tuple[str, int]] = {
    "input": ("input", 1_000_000),
    "cache_read": ("cache_read", 1_000_000),
    "cache_write_5m": ("cache_write_5m", 1_000_000),
    "cache_write_1h": ("cache_write_1h", 1_000_000),
    "output": ("output", 1_000_000),
    "web_search_per_1k": ("web_search", 1_000),
}

_COMMON_KEYS = frozenset({"id", "provider", "model", "from", "until"})
_TABLE_KEYS: Mapping[str, frozenset[str]] = {
    "discount": _COMMON_KEYS | {"percent"},
    "override": _COMMON_KEYS | set(RATE_KEYS),
    "private_model": _COMMON_KEYS | set(RATE_KEYS),
    "alias": frozenset({"provider", "name", "model", "region", "from", "until"}),
}
_TOP_KEYS = frozenset({"name", *_TABLE_KEYS})
_SHEET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which calls an entry covers: provider, model pattern, and dates."""

    provider: str | None
    model: str | None
    valid_from: date | None
    valid_until: date | None

    def covers(self, provider: str, model: str, day: date) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        if self.model is not None and not fnmatch.fnmatchcase(
            model.lower(), self.model.lower()
        ):
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day < self.valid_until

    @property
    def specificity(self) -> int:
        return (2 if self.model is not None else 0) + (1 if self.provider else 0)


@dataclass(frozen=True, slots=True)
class SheetRates:
    """Rates the sheet sets: our count field → USD per unit (token or search)."""

    per_unit: tuple[tuple[str, Decimal], ...]

    def get(self, field: str) -> Decimal | None:
        return dict(self.per_unit).get(field)


@dataclass(frozen=True, slots=True)
class Discount:
    id: str
    scope: Scope
    percent: Decimal

    @property
    def factor(self) -> Decimal:
        return 1 - self.percent / 100


@dataclass(frozen=True, slots=True)
class Override:
    id: str
    scope: Scope
    rates: SheetRates


@dataclass(frozen=True, slots=True)
class PrivateModel:
    id: str
    scope: Scope
    rates: SheetRates


@dataclass(frozen=True, slots=True)
class PriceSheet:
    """A parsed price sheet. ``path`` is None for one built in code."""

    name: str
    path: Path | None = None
    discounts: tuple[Discount, ...] = ()
    overrides: tuple[Override, ...] = ()
    private_models: tuple[PrivateModel, ...] = ()
    aliases: tuple[Alias, ...] = ()

    def discount_for(self, provider: str, model: str, day: date) -> Discount | None:
        """The most specific discount covering the call (the last among equals)."""
        best: Discount | None = None
        for discount in self.discounts:
            if not discount.scope.covers(provider, model, day):
                continue
            if best is None or discount.scope.specificity >= best.scope.specificity:
                best = discount
        return best

    def overrides_for(
        self, provider: str, model: str, day: date
    ) -> tuple[Override, ...]:
        """Overrides covering the call, in file order (a later one wins per rate)."""
        return tuple(o for o in self.overrides if o.scope.covers(provider, model, day))

    def private_model(
        self, provider: str, model: str, day: date
    ) -> PrivateModel | None:
        """The private model the call is for, if the sheet defines one (last wins)."""
        found: PrivateModel | None = None
        for entry in self.private_models:
            if entry.scope.covers(provider, model, day):
                found = entry
        return found


def load_sheet(path: Path) -> PriceSheet:
    """Read and check a price sheet; a ConfigError names the file, line, key and fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the price sheet ({exc.strerror}); check the path "
            "or remove the file to price at list prices"
        ) from exc
    return parse_sheet(text, path)


def parse_sheet(text: str, path: Path | None = None) -> PriceSheet:
    """Parse price-sheet TOML (see the module docstring for the format)."""
    where = str(path) if path is not None else SHEET_FILE
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid TOML: {exc}; fix the syntax at that line"
        ) from exc
    return _Parser(where, text).sheet(raw, path)


class _Parser:
    """Turns the TOML tree into a PriceSheet, naming file, line and key on errors."""

    def __init__(self, where: str, text: str) -> None:
        self.where = where
        self.lines = text.splitlines()

    def sheet(self, raw: dict[str, Any], path: Path | None) -> PriceSheet:
        for key in raw:
            if key not in _TOP_KEYS:
                self.fail(
                    None, key, f"unknown key {key!r}", f"use one of {_known(_TOP_KEYS)}"
                )
        name = raw.get("name")
        if not isinstance(name, str) or not _SHEET_NAME.match(name):
            self.fail(
                None,
                "name",
                f"name is {name!r}",
                'give the sheet a short name, e.g. name = "acme-2026" (letters, '
                "digits, dot, dash, underscore)",
            )
        tables = {kind: self.entries(raw, kind) for kind in _TABLE_KEYS}
        sheet = PriceSheet(
            name=name,
            path=path,
            discounts=tuple(
                self.discount(t, i) for i, t in enumerate(tables["discount"])
            ),
            overrides=tuple(
                Override(
                    self.entry_id(t, "override", i),
                    self.scope(t, "override", i),
                    self.rates(t, "override", i),
                )
                for i, t in enumerate(tables["override"])
            ),
            private_models=tuple(
                self.private(t, i) for i, t in enumerate(tables["private_model"])
            ),
            aliases=tuple(
                self.alias(t, i, name) for i, t in enumerate(tables["alias"])
            ),
        )
        self.check_unique_ids(sheet)
        return sheet

    def entries(self, raw: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        value = raw.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(
                None,
                kind,
                f"{kind} is not a list of tables",
                f"write each entry as [[{kind}]]",
            )
        for index, table in enumerate(value):
            for key in table:
                if key not in _TABLE_KEYS[kind]:
                    self.fail(
                        (kind, index),
                        key,
                        f"unknown key {key!r}",
                        f"use one of {_known(_TABLE_KEYS[kind])}",
                    )
        return value

    def discount(self, table: dict[str, Any], index: int) -> Discount:
        at = ("discount", index)
        percent = table.get("percent")
        if (
            isinstance(percent, bool)
            or not isinstance(percent, int | Decimal)
            or not 0 < percent <= 100
        ):
            self.fail(
                at,
                "percent",
                f"percent is {percent!r}",
                "give a number above 0 and at most 100, e.g. percent = 12.5",
            )
        return Discount(
            self.entry_id(table, *at), self.scope(table, *at), Decimal(percent)
        )

    def private(self, table: dict[str, Any], index: int) -> PrivateModel:
        at = ("private_model", index)
        model = table.get("model")
        if not isinstance(model, str) or not model:
            self.fail(
                at,
                "model",
                "a private model needs its model name",
                'add model = "the-model-id"',
            )
        rates = self.rates(table, *at)
        if rates.get("input") is None or rates.get("output") is None:
            self.fail(
                at,
                "input",
                "a private model needs at least input and output rates",
                "add input = … and output = … in USD per million tokens",
            )
        return PrivateModel(self.entry_id(table, *at), self.scope(table, *at), rates)

    def alias(self, table: dict[str, Any], index: int, sheet: str) -> Alias:
        at = ("alias", index)
        for key in ("name", "model"):
            if not isinstance(table.get(key), str) or not table[key]:
                self.fail(at, key, f"{key} is missing", f'add {key} = "…"')
        region = table.get("region")
        if region is not None and not isinstance(region, str):
            self.fail(
                at,
                "region",
                f"region is {region!r}",
                'write region = "us" (or leave it out)',
            )
        scope = self.scope(table, *at)
        return Alias(
            name=table["name"],
            model=table["model"],
            provider=scope.provider,
            region=region,
            valid_from=scope.valid_from,
            valid_until=scope.valid_until,
            origin=f"sheet {sheet}",
        )

    def entry_id(self, table: dict[str, Any], kind: str, index: int) -> str:
        value = table.get("id")
        if not isinstance(value, str) or not _SHEET_NAME.match(value):
            self.fail(
                (kind, index),
                "id",
                f"id is {value!r}",
                'give each entry a short unique id, e.g. id = "aws-edp"',
            )
        return value

    def scope(self, table: dict[str, Any], kind: str, index: int) -> Scope:
        at = (kind, index)
        provider = table.get("provider")
        model = table.get("model")
        for key, value in (("provider", provider), ("model", model)):
            if value is not None and (not isinstance(value, str) or not value):
                self.fail(
                    at, key, f"{key} is {value!r}", f'write {key} = "…" or leave it out'
                )
        start = self.day(table, at, "from")
        end = self.day(table, at, "until")
        if start is not None and end is not None and end <= start:
            self.fail(
                at,
                "until",
                f"until {end} is not after from {start}",
                "swap the dates or widen the range",
            )
        return Scope(provider.lower() if provider else None, model, start, end)

    def day(self, table: dict[str, Any], at: tuple[str, int], key: str) -> date | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        self.fail(
            at,
            key,
            f"{key} is {value!r}",
            f"write a TOML date without quotes, e.g. {key} = 2026-01-01",
        )

    def rates(self, table: dict[str, Any], kind: str, index: int) -> SheetRates:
        found: list[tuple[str, Decimal]] = []
        for key, (field, units) in RATE_KEYS.items():
            if key not in table:
                continue
            value = table[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | Decimal)
                or value < 0
            ):
                self.fail(
                    (kind, index),
                    key,
                    f"{key} is {value!r}",
                    "give a price as a non-negative number, e.g. 3.75 (USD per million "
                    "tokens; per 1,000 searches for web_search_per_1k)",
                )
            found.append((field, Decimal(value) / units))
        if not found:
            self.fail(
                (kind, index),
                "input",
                f"{kind} sets no rate",
                f"add at least one of {_known(frozenset(RATE_KEYS))}",
            )
        return SheetRates(tuple(found))

    def check_unique_ids(self, sheet: PriceSheet) -> None:
        seen: set[str] = set()
        ids = [e.id for e in sheet.discounts]
        ids += [e.id for e in sheet.overrides]
        ids += [e.id for e in sheet.private_models]
        for entry_id in ids:
            if entry_id in seen:
                self.fail(
                    None,
                    "id",
                    f"id {entry_id!r} is used twice",
                    "give every entry its own id",
                )
            seen.add(entry_id)

    def fail(
        self, at: tuple[str, int] | None, key: str, problem: str, fix: str
    ) -> NoReturn:
        path = key if at is None else f"{at[0]}[{at[1] + 1}].{key}"
        line = self.locate(at, key)
        place = f"{self.where}:{line}" if line else self.where
        raise ConfigError(f"{place}: {path}: {problem}; {fix}")

    def locate(self, at: tuple[str, int] | None, key: str) -> int | None:
        """The 1-based line of ``key`` in the n-th ``[[kind]]`` table (best effort)."""
        start, end = 0, len(self.lines)
        if at is not None:
            headers = [
                n for n, line in enumerate(self.lines) if line.strip() == f"[[{at[0]}]]"
            ]
            if at[1] >= len(headers):
                return None
            start = headers[at[1]]
            later = [
                n
                for n, line in enumerate(self.lines)
                if n > start and line.lstrip().startswith("[")
            ]
            end = later[0] if later else len(self.lines)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(start, end):
            if pattern.match(self.lines[n]):
                return n + 1
        return start + 1 if at is not None else None


def _known(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))
