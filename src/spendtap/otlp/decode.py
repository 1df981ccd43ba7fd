"""OTLP/HTTP request bodies to OTLP messages, protobuf or JSON, gzip or not.

OTLP/JSON is protobuf's JSON mapping with two exceptions that ``json_format``
does not know: trace and span ids are hex, not base64 (we do not need them and drop
them), and enum values may be integers (``json_format`` accepts those).
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from spendtap.errors import InputError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: The largest request body taken, before and after decompression.
MAX_BODY_BYTES = 32 * 1024 * 1024
_HEX_IDS = frozenset({"traceId", "spanId", "parentSpanId"})


class OtlpDecodeError(InputError):
    """A request body that is not the OTLP message it claims to be."""


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def decompress(body: bytes, encoding: str) -> bytes:
    """The body without its ``Content-Encoding`` (gzip or deflate)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding == "gzip":
            data = gzip.decompress(body)
        elif encoding == "deflate":
            data = zlib.decompress(body)
        else:
            raise OtlpDecodeError(
                f"Content-Encoding {encoding!r} is not supported; send gzip or none"
            )
    except (OSError, EOFError, zlib.error) as exc:
        raise OtlpDecodeError(
            f"the {encoding} body does not decompress: {exc}"
        ) from exc
    if len(data) > MAX_BODY_BYTES:
        raise OtlpDecodeError(
            f"the body is {len(data)} bytes once decompressed, over the "
            f"{MAX_BODY_BYTES}-byte limit; export smaller batches"
        )
    return data


def decode_logs(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    return _decode(body, content_type, ExportLogsServiceRequest())


def decode_metrics(body: bytes, content_type: str) -> ExportMetricsServiceRequest:
    return _decode(body, content_type, ExportMetricsServiceRequest())


def _decode[M: Message](body: bytes, content_type: str, message: M) -> M:
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpDecodeError(f"the body is not OTLP protobuf: {exc}") from exc
        return message
    if kind == JSON:
        try:
            document = orjson.loads(body)
            json_format.ParseDict(
                _without_hex_ids(document), message, ignore_unknown_fields=True
            )
        except (orjson.JSONDecodeError, json_format.ParseError) as exc:
            raise OtlpDecodeError(f"the body is not OTLP JSON: {exc}") from exc
        return message
    raise OtlpDecodeError(
        f"Content-Type {content_type!r} is not OTLP; send {PROTOBUF} or {JSON}"
    )


def _without_hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_hex_ids(v) for k, v in value.items() if k not in _HEX_IDS}
    if isinstance(value, list):
        return [_without_hex_ids(v) for v in value]
    return value
