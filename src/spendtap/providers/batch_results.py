"""Batch result files (OpenAI Batch output, Anthropic Message Batches results).

A results file is JSON Lines, one line per request of the batch, each holding the
whole response that request got. The download is one HTTP exchange, so it becomes
one call: the usage of every succeeded line added up, ``service_tier`` ``batch``
(the batch discount applies), ``response_id`` the file or batch id so a second
download of the same file can be recognised. Lines that failed add nothing.

The model is the one model that served every line. A batch may mix models
(Anthropic allows it); such a file's call has no model and so stays unpriced and
flagged rather than priced at one model's rate.
Known limit, not scheduled (issue 3 is closed): one call per model, or per line,
would price such a file, once a reader may return several calls.

A download that holds no result lines (some other file, or only failed lines) is
recorded as a call that is not billable.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from spendtap.event import Api, CallStatus
from spendtap.providers.base import ParsedCall
from spendtap.providers.framing import as_text, load_json_object, usage_source
from spendtap.providers.jsonl import JsonLinesDecoder
from spendtap.providers.usage_totals import ModelTotals

BATCH_TIER = "batch"

log = logging.getLogger(__name__)

#: Reads one line of a results file: the call it holds, or None when the line is
#: not a result line at all.
LineReader = Callable[[dict[str, Any]], ParsedCall | None]


class BatchResultsReader:
    """Reads a results file line by line; memory holds one line at most."""

    def __init__(self, template: ParsedCall, read_line: LineReader) -> None:
        self._template = template
        self._read_line = read_line
        self._lines = JsonLinesDecoder()
        self._totals = ModelTotals()
        self._api: Api | None = None
        self._started = False

    @property
    def content_started(self) -> bool:
        return self._started

    def feed(self, data: bytes) -> None:
        self._started |= bool(data)
        for line in self._lines.feed(data):
            self._take(line)

    def finish(self, *, complete: bool) -> ParsedCall:
        for line in self._lines.flush():
            self._take(line)
        if self._totals.calls == 0:
            return dataclasses.replace(self._template, billable=False)
        if self._totals.model is None and self._totals.models:
            log.warning(
                "providers.batch.mixed_models models=%d", len(self._totals.models)
            )
        usage = self._totals.usage
        return dataclasses.replace(
            self._template,
            api=self._api or self._template.api,
            status=CallStatus.OK if complete else CallStatus.TRUNCATED,
            usage=usage,
            usage_source=usage_source(usage),
            model=self._totals.model,
            service_tier=BATCH_TIER,
        )

    def _take(self, line: bytes) -> None:
        document = load_json_object(line)
        call = None if document is None else self._read_line(document)
        if call is None:
            return
        if call.status is CallStatus.OK and not call.usage.is_empty:
            self._api = self._api or call.api
            self._totals.add(call.model, call.usage)


def batch_created(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """Creating a batch costs nothing by itself; its results are billed later."""
    return dataclasses.replace(
        template,
        billable=False,
        response_id=as_text(body.get("id")),
        service_tier=BATCH_TIER,
    )
