"""``spendtap report``: ask the engine for sums by dimension and print them.

:func:`fetch_report` returns the engine's ``{"rows": [...], "totals": {...}}`` as parsed
JSON (ready for ``--json``); :func:`render_table` turns it into an aligned table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from spendtap.engine.timestamps import EXAMPLE, format_rfc3339, parse_rfc3339
from spendtap.errors import ConfigError, EngineError

log = logging.getLogger(__name__)

REPORT_PATH = "/v1/report"
TIMEOUT_S = 10.0
_RELATIVE = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_START_HINT = (
    "start it with `spendtap serve` (engine only) or `spendtap up` (collector and "
    "engine), or pass --engine with the engine's URL"
)

_CENT = Decimal("0.0001")
_NONE = "(none)"
_UNKNOWN = "-"
_MAX_VALUE_WIDTH = 40


def resolve_since(since: str, now: datetime | None = None) -> str:
    """``7d``, ``24h``, ``30m`` (back from ``now``) or RFC 3339, as RFC 3339 UTC."""
    text = since.strip()
    relative = _RELATIVE.fullmatch(text.lower())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        start = (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
        return format_rfc3339(start)
    try:
        return format_rfc3339(parse_rfc3339(text))
    except ValueError as exc:
        raise ConfigError(
            f"--since {since!r} is neither a span nor a time: write 7d, 24h, 30m or "
            f"an RFC 3339 time like {EXAMPLE}"
        ) from exc


def fetch_report(
    engine_url: str, by: list[str], since: str, token: str | None
) -> dict[str, Any]:
    """The engine's report grouped ``by`` these dimensions, from ``since`` until now.

    Raises EngineError when the engine cannot be reached or refuses, ConfigError for
    a bad ``since`` or engine URL.
    """
    base = engine_url.rstrip("/")
    params = {"by": ",".join(by), "since": resolve_since(since)}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            base + REPORT_PATH, params=params, headers=headers, timeout=TIMEOUT_S
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ConfigError(
            f"--engine {engine_url!r} is not an http(s) URL: write it like "
            "http://127.0.0.1:8878"
        ) from exc
    except httpx.TimeoutException as exc:
        raise EngineError(
            f"the engine at {base} did not answer within {TIMEOUT_S:g} s; check "
            f"that it is running, or {_START_HINT}"
        ) from exc
    except httpx.TransportError as exc:
        raise EngineError(
            f"cannot reach the engine at {base} ({exc}); {_START_HINT}"
        ) from exc
    return _report_body(base, response)


def _report_body(base: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        raise EngineError(
            f"the engine at {base} refused the report (HTTP {response.status_code}): "
            f"{_error_message(body, response.text)}"
        )
    if not isinstance(body, dict) or "rows" not in body or "totals" not in body:
        raise EngineError(
            f"the engine at {base} answered something that is not a report; is "
            f"{base} a spendtap engine?"
        )
    log.debug("cli.report.fetched rows=%d", len(body["rows"]))
    return body


def _error_message(body: object, text: str) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return text[:200] or "no explanation given"


def render_table(report: Mapping[str, Any], by: Sequence[str]) -> str:
    """An aligned table: a line per row, then a rule and the totals line.

    Token sums the wire never gave show as ``-``; a cost shows as ``$`` with 4
    decimals, ``unpriced`` when no call of the row had a price, and with
    ``+N unpriced`` when some had none (their cost is not in the figure).
    """
    rows: Sequence[Mapping[str, Any]] = report.get("rows") or []
    if not rows:
        return (
            "No calls in this window. (Imported history may be older: widen it, "
            "for example --since 90d or --since 2025-01-01T00:00:00Z.)"
        )
    header = [*by, *(title for title, _ in _MEASURES)]
    lines = [_dimension_cells(row, by) + _measure_cells(row) for row in rows]
    label = ["total", *([""] * (len(by) - 1))] if by else []
    total = label + _measure_cells(report.get("totals") or {})
    table = [header, *lines, total]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    text = [_join(line, widths, len(by)) for line in table]
    return "\n".join([*text[:-1], rule, text[-1]])


def _dimension_cells(row: Mapping[str, Any], by: Sequence[str]) -> list[str]:
    cells = []
    for name in by:
        value = row.get(name)
        text = _NONE if value is None else str(value)
        if len(text) > _MAX_VALUE_WIDTH:
            text = text[: _MAX_VALUE_WIDTH - 1] + "\u2026"
        cells.append(text)
    return cells


def _measure_cells(sums: Mapping[str, Any]) -> list[str]:
    return [cell(sums) for _, cell in _MEASURES]


def _join(cells: Sequence[str], widths: Sequence[int], left: int) -> str:
    """Cells padded to ``widths``: the first ``left`` flush left, numbers right."""
    padded = [
        cell.ljust(width) if i < left else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "  ".join(padded).rstrip()


def _count(value: object) -> str:
    return _UNKNOWN if value is None else f"{value:,}"


def _field(name: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda sums: _count(sums.get(name))


def _cache_write(sums: Mapping[str, Any]) -> str:
    parts = [sums.get("cache_write_5m_tokens"), sums.get("cache_write_1h_tokens")]
    known = [part for part in parts if part is not None]
    return _count(sum(known) if known else None)


def _cost(sums: Mapping[str, Any]) -> str:
    cost, unpriced = sums.get("cost_usd"), sums.get("unpriced_calls") or 0
    if cost is None:
        return "unpriced" if unpriced else _UNKNOWN
    usd = Decimal(str(cost))
    shown = f"${usd.quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"
    if 0 < usd < _CENT / 2:
        shown = f"<${_CENT}"
    return f"{shown} +{unpriced} unpriced" if unpriced else shown


_MEASURES: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("calls", _field("calls")),
    ("input", _field("input_tokens")),
    ("cache read", _field("cache_read_tokens")),
    ("cache write", _cache_write),
    ("output", _field("output_tokens")),
    ("reasoning", _field("reasoning_tokens")),
    ("cost", _cost),
)
