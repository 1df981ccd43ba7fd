"""Claude Code backfills through the compiled reader, where it is built.

``claude_code_native`` (Cython; built at install, optional) reads transcripts
straight into usage event lines: the same rules as ``claude_code.TranscriptFile``
with ``events.EventFactory.build_line``, several times faster. ``EventPlans``
gives it what it makes once per session (the event's fixed JSON around the
call's own values) or per model and UTC day (the rate card as integers), and
makes the event of any response it leaves to Python. ``NativeTranscripts`` reads
one file after another with it, logging and counting as the Python reader does.

Without the compiled module, or with ``SPENDTAP_PURE_PYTHON=1``, backfills use the
Python reader; a test holds the two to the same events.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from spendtap.agentlogs import claude_code
from spendtap.agentlogs.events import EventFactory, EventLine, ImportedEvent
from spendtap.agentlogs.lines import ReadState, read_lines
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.collector.assemble import EVENT_NAMESPACE
from spendtap.event import EVENT_FIELDS
from spendtap.pricing.card import Card
from spendtap.pricing.rates import Counts
from spendtap.providers.anthropic_usage import usage_region

if TYPE_CHECKING:
    from spendtap.agentlogs.claude_code_native import DayPlan, TranscriptEvents

try:
    from spendtap.agentlogs import claude_code_native
except ImportError:  # not built (no compiler at install): the Python reader reads
    claude_code_native = None  # type: ignore[assignment, unused-ignore]

log = logging.getLogger(__name__)

#: Set to 1 to read with the Python reader even where the compiled one is built.
PURE_PYTHON_ENV = "SPENDTAP_PURE_PYTHON"
#: The largest scaled rate taken (the compiled reader multiplies in 128 bits).
_MAX_SCALED_RATE = 2**62
DAY = timedelta(days=1)
#: Stands for a call's own value while a session's event JSON is cut into pieces.
_SLOT = "\x00spendtap slot\x00"


def built() -> bool:
    """Whether the compiled reader was built when spendtap was installed."""
    return claude_code_native is not None


def available() -> bool:
    """Whether backfills go through the compiled reader."""
    return built() and os.environ.get(PURE_PYTHON_ENV) != "1"


class EventPlans:
    """What the compiled reader asks Python for, made with ``factory``'s own code."""

    def __init__(self, factory: EventFactory) -> None:
        self.factory = factory
        self.bulk = factory.bulk_pricer
        self.provider_of = claude_code.provider_of

    def fragments(self, record: Any, response: Any) -> tuple[bytes, ...]:
        """The event's JSON for the calls of the response's session and place,
        cut where ``claude_code_native.SLOTS`` go: one more piece than slots."""
        call = self.slow_call(record, response)
        assert call is not None  # only canonical (valid) times come here
        template = self.factory.template(call)
        assert claude_code_native is not None
        slots = claude_code_native.SLOTS
        marked = template | dict.fromkeys(slots, _SLOT)
        pieces = orjson.dumps(marked, option=orjson.OPT_APPEND_NEWLINE).split(
            orjson.dumps(_SLOT)
        )
        if len(pieces) != len(slots) + 1:  # the session's own text holds the mark
            return fragments_by_field(template, slots)
        return tuple(pieces)

    def region_of(self, usage: dict[str, Any]) -> str | None:
        return usage_region(usage) or None

    def day_plan(
        self,
        provider: str,
        model: str,
        tier: str | None,
        region: str | None,
        day: int,
    ) -> DayPlan | None:
        """The model's rate card for UTC day ``day`` (days since 1970), every rate
        an integer times ``10**-scale`` dollars; None when the price can change
        within the day or there is none (the Python pricer then prices, and warns)."""
        assert claude_code_native is not None
        at = datetime(1970, 1, 1, tzinfo=UTC) + day * DAY
        quote = self.bulk.daily_quote(provider, model, at, tier, region)
        if quote is None:
            return None
        return scaled_plan(quote.card)

    def price_ref(self, card: Card, band: int, counts: tuple[int, ...]) -> str:
        return card.price_ref_for(card.bands[band], Counts(*counts))

    def slow_call(self, record: Any, response: Any) -> Any:
        first = parse_timestamp(response.first_at)
        last = parse_timestamp(response.last_at)
        if first is None or last is None:
            return None
        return claude_code.to_call(record, response, first, last)

    def slow_event(self, record: Any, response: Any) -> ImportedEvent | None:
        """The response's event the Python way; None for a time that is no time."""
        call = self.slow_call(record, response)
        if call is None:
            return None
        return ImportedEvent(
            self.factory.build_line(call), call.response_id, call.request_id
        )


def fragments_by_field(
    template: dict[str, Any], slots: tuple[str, ...]
) -> tuple[bytes, ...]:
    """``EventPlans.fragments`` encoded one field at a time."""
    pieces: list[bytes] = []
    current = b"{"
    for index, name in enumerate(EVENT_FIELDS):
        current += b"," if index else b""
        current += b'"' + name.encode() + b'":'
        if name in slots:
            pieces.append(current)
            current = b""
        else:
            current += orjson.dumps(template[name])
    pieces.append(current + b"}\n")
    return tuple(pieces)


def scaled_plan(card: Card) -> DayPlan | None:
    """``card``'s rates as integers over one power of ten; None if one is too
    large for the compiled arithmetic."""
    assert claude_code_native is not None
    rates: list[Decimal] = []
    for band in card.bands:
        rates.append(band.rates.per_call)
        rates.extend(band.rates.per_unit)
    if not all(rate.is_finite() for rate in rates):
        return None
    scale = max(0, *(-int(rate.as_tuple().exponent) for rate in rates))
    scaled = [int(rate.scaleb(scale)) for rate in rates]
    if any(abs(value) >= _MAX_SCALED_RATE for value in scaled):
        return None
    width = 8  # per call, then the seven per-unit rates
    return claude_code_native.DayPlan(
        card,
        card.starts,
        [scaled[i * width] for i in range(len(card.bands))],
        [scaled[i * width + 1 : (i + 1) * width] for i in range(len(card.bands))],
        scale,
    )


class NativeTranscripts:
    """Reads transcripts of one backfill with the compiled reader."""

    def __init__(self, fmt: claude_code.ClaudeCodeFormat, factory: EventFactory):
        assert claude_code_native is not None
        self.stats = fmt.stats
        self.plans = EventPlans(factory)
        self._reader: TranscriptEvents = claude_code_native.TranscriptEvents(
            fmt,
            self.plans,
            claude_code.LINE_DECODER.decode,
            claude_code.read_line,
            claude_code.is_time,
            claude_code.earlier,
            hashlib.sha1,
            orjson.dumps,
            EventLine,
            ImportedEvent,
            EVENT_NAMESPACE.bytes,
        )

    @property
    def slow_calls(self) -> int:
        """Calls so far whose event the Python code made (see ``EventPlans``)."""
        return self._reader.slow_calls

    def read_file(self, path: Path) -> Iterator[list[ImportedEvent]]:
        """Every event in ``path``, read to its end (``LogImporter._read`` for one
        new file, with its unterminated last line read as a line)."""
        reader = self._reader
        state = ReadState()
        for lines in read_lines(path, state):
            invalid = reader.feed(lines.data, lines.start, lines.end)
            if invalid:
                claude_code.warn_invalid(path, invalid)
        self.stats.overlong_lines += state.overlong
        if state.tail.strip() and not reader.feed_tail(state.tail):
            self.stats.truncated_lines += 1
            claude_code.warn_truncated(path)
        yield from reader.finish()


def event_reader(
    fmt: claude_code.ClaudeCodeFormat, factory: EventFactory
) -> NativeTranscripts | None:
    """The compiled reader for ``fmt``'s backfill, or None to read with Python."""
    if available():
        return NativeTranscripts(fmt, factory)
    if not built():
        log.info(
            "agentlogs.claude_code.pure_python reason=not_built (the compiled reader "
            "was not built at install, for want of a C compiler: backfills read "
            "about twice as slowly; reinstall spendtap where one is available)"
        )
    return None
