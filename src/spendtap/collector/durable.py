"""Hold the end of an AI response until its usage event is in the spool.

mitmproxy runs the ``response`` hook after the last body chunk has been forwarded
but before it ends the message (the last chunk of a chunked or streamed response,
HTTP/2 END_STREAM). This addon, placed after the capture addon, waits there until
the pipeline has committed the call's event, so a client that has seen its response
complete knows the call survives a ``kill -9`` of the collector a moment later.

The wait is bounded (``timeout``, default 1 s; a commit takes a few ms) and only the
one flow waits: the hook is a coroutine on the proxy loop, never a block. A call the
pipeline dropped (queue full, disk full) is released at once. Responses framed by
``Content-Length`` alone are complete for the client when their last byte arrives,
before this hook; for those the window between that byte and the commit remains.

Known limit, not scheduled (issue 5, which built this barrier, is closed): that
window could be closed by having mitmproxy buffer captured non-streamed JSON bodies
(``stream = False`` in capture/addon.py, parsed in the response hook), so their bytes
leave only after this barrier, at the cost of holding each such body until it ends.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import http

from spendtap.collector.pipeline import Pipeline

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1.0


class SpoolBarrier:
    """The mitmproxy addon; ``timeouts`` counts responses released unconfirmed."""

    def __init__(self, pipeline: Pipeline, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.pipeline = pipeline
        self.timeout = timeout
        self.timeouts = 0

    async def response(self, flow: http.HTTPFlow) -> None:
        receipt = self.pipeline.take_receipt(flow.id)
        if receipt is None or not self.pipeline.alive:
            return
        waiting = asyncio.wrap_future(receipt)
        done, _ = await asyncio.wait([waiting], timeout=self.timeout)
        if not done:
            self.timeouts += 1
            log.warning(
                "collector.spool_barrier.timeout host=%s waited_s=%.1f released=true",
                flow.request.pretty_host,
                self.timeout,
            )

    def error(self, flow: http.HTTPFlow) -> None:
        self.pipeline.take_receipt(flow.id)  # the client saw an error: nothing to hold
