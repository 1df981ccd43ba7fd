"""An OTLP/HTTP receiver for coding agents' own telemetry (Claude Code, Codex).

Agents that export OpenTelemetry can point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at the
collector (``spendtap collect --otlp-listen 127.0.0.1:4318``). The receiver takes
``POST /v1/logs`` and ``POST /v1/metrics`` as protobuf or JSON (gzip or not),
turns each ``claude_code.api_request`` log event, and each Codex
``codex.sse_event`` of kind ``response.completed``, into a usage event (capture
source ``otlp``) in the collector's spool, with the agent's own cost beside ours;
and it keeps the agents' token and cost metrics as totals to check against.

    decode    request bodies to OTLP messages (protobuf or JSON)
    values    OTLP attribute values to Python values
    mapping   log records to agent calls
    metrics   running totals of the token and cost metrics
    receiver  the HTTP server
"""

from spendtap.otlp.receiver import OtlpReceiver, OtlpTotals

__all__ = ["OtlpReceiver", "OtlpTotals"]
