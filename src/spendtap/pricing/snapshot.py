"""Which genai-prices data prices a call: the bundled snapshot or an imported one.

``spendtap prices import FILE`` takes a price file in the JSON format genai-prices
itself publishes and loads (a list of providers, each with its models and dated
prices), checks it, and keeps a copy in ``<data-dir>/prices/``; from then on a
pricer built on that data dir uses it, and every ``price_ref`` names it. Nothing here
touches the network: genai-prices' own updater is never started.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import genai_prices
import pydantic
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import Provider, Usage

from spendtap.errors import ConfigError, InputError
from spendtap.pricing.provider_ids import GENAI_PROVIDER_IDS

log = logging.getLogger(__name__)

BUNDLED_LABEL = f"genai-prices@{genai_prices.__version__}"
PRICES_DIR = "prices"
ACTIVE_FILE = "active.json"
MAX_PRICE_FILE_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True, eq=False)
class PriceData:
    """A genai-prices snapshot and the label ``price_ref`` gives it."""

    label: str
    snapshot: DataSnapshot
    origin: str  # "bundled with genai-prices x.y.z" or the stored file's path


@dataclass(frozen=True, slots=True)
class ImportResult:
    name: str
    label: str
    path: Path
    providers: int
    models: int
    missing_providers: tuple[str, ...]


def bundled_data() -> PriceData:
    """The snapshot that ships inside the installed genai-prices package."""
    return PriceData(
        BUNDLED_LABEL,
        get_snapshot(),
        f"bundled with genai-prices {genai_prices.__version__}",
    )


def imported_label(name: str) -> str:
    return f"{BUNDLED_LABEL}+data={name}"


def load_price_data(data_dir: Path | None) -> PriceData:
    """The imported snapshot of ``data_dir`` if there is one, else the bundled one."""
    if data_dir is None:
        return bundled_data()
    active = data_dir / PRICES_DIR / ACTIVE_FILE
    if not active.exists():
        return bundled_data()
    try:
        meta = json.loads(active.read_text(encoding="utf-8"))
        name = str(meta["name"])
        path = data_dir / PRICES_DIR / str(meta["file"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{active}: unreadable record of imported prices ({exc}); run "
            "`spendtap prices import FILE` again or delete the file to use the "
            "bundled prices"
        ) from exc
    providers = read_price_file(path)
    log.info("pricing.data.loaded name=%s providers=%d", name, len(providers))
    return PriceData(
        imported_label(name), DataSnapshot(providers, from_auto_update=False), str(path)
    )


def read_price_file(path: Path) -> list[Provider]:
    """Parse and check a genai-prices JSON price file; InputError says what is wrong."""
    try:
        size = path.stat().st_size
        if size > MAX_PRICE_FILE_BYTES:
            raise InputError(
                f"{path}: {size} bytes is more than a price file should be "
                f"({MAX_PRICE_FILE_BYTES}); check that this is genai-prices data.json"
            )
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read it ({exc.strerror}); check the path"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "give genai-prices' data.json file"
        ) from exc
    return providers_from_json(raw, str(path))


def providers_from_json(raw: Any, where: str) -> list[Provider]:
    """Validate decoded genai-prices JSON into providers, and trial-price each model."""
    if not isinstance(raw, list) or not raw:
        raise InputError(
            f"{where}: expected a non-empty JSON array of providers, as in "
            f"genai-prices' data.json; got {type(raw).__name__}"
        )
    from genai_prices.types import _providers_from_raw  # the loader genai-prices uses

    try:
        providers = _providers_from_raw(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[:3]
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in first
        )
        raise InputError(
            f"{where}: not genai-prices data ({exc.error_count()} problems, first: "
            f"{detail}); use the data.json of a genai-prices release compatible "
            f"with {genai_prices.__version__}"
        ) from exc
    _trial_price(providers, where)
    return providers


def _trial_price(providers: list[Provider], where: str) -> None:
    """Price one small call with every model, so bad data fails here, not later."""
    now = datetime.now(tz=UTC)
    usage = Usage(input_tokens=1000, output_tokens=1000)
    for provider in providers:
        for model in provider.models:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    model.calc_price(usage, provider, genai_request_timestamp=now)
            except (ValueError, UserWarning, TypeError, ArithmeticError) as exc:
                raise InputError(
                    f"{where}: {provider.id}/{model.id} cannot be priced ({exc}); "
                    "this data needs a newer genai-prices, or is damaged"
                ) from exc


def import_price_data(
    source: Path, data_dir: Path, name: str | None = None
) -> ImportResult:
    """Check ``source`` and make it the price data of ``data_dir``."""
    providers = read_price_file(source)
    content = source.read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:12]
    name = name or f"sha-{digest}"
    if not _NAME.match(name):
        raise ConfigError(
            f"--name {name!r}: use letters, digits, dot, dash or underscore "
            "(at most 64), e.g. --name 2026-12-01"
        )

    folder = data_dir / PRICES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"genai-prices-{name}.json"
    _write_atomic(stored, content)
    meta = {
        "name": name,
        "file": stored.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "source": str(source),
        "imported_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }
    _write_atomic(folder / ACTIVE_FILE, json.dumps(meta, indent=2).encode())

    known = {p.id for p in providers}
    missing = sorted({v for v in GENAI_PROVIDER_IDS.values() if v not in known})
    models = sum(len(p.models) for p in providers)
    log.info(
        "pricing.data.imported name=%s providers=%d models=%d",
        name,
        len(providers),
        models,
    )
    return ImportResult(
        name, imported_label(name), stored, len(providers), models, tuple(missing)
    )


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
