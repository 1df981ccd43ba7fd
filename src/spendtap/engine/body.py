"""Reading a batch body: size limits before and after gzip, and content encodings."""

from __future__ import annotations

import zlib

from fastapi import Request

from spendtap.engine.http_errors import ApiError, ErrorCode, Problem

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


def too_large(what: str, limit: int, unit: str) -> ApiError:
    message = f"the batch is over the limit: {what} is more than {limit} {unit}"
    fix = "send smaller batches (split this one and send the parts)"
    return ApiError(413, ErrorCode.BATCH_TOO_LARGE, message, (Problem(message, fix),))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body as sent (still encoded), refusing more than ``max_bytes``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large("the body", max_bytes, "bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large("the body", max_bytes, "bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """``raw`` without its content encoding; at most ``max_bytes`` once decoded."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return raw
    if encoding in _GZIP:
        return _gunzip(raw, max_bytes)
    message = f"Content-Encoding {encoding!r} is not supported"
    fix = "send the body as plain JSON or gzip it (Content-Encoding: gzip)"
    problem = Problem(message, fix, field="Content-Encoding")
    raise ApiError(415, ErrorCode.UNSUPPORTED_ENCODING, message, (problem,))


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Every gzip member in ``raw``, stopping past ``max_bytes`` (zip bombs too)."""
    out = bytearray()
    rest = raw
    while rest:
        member = zlib.decompressobj(_GZIP_WBITS)
        try:
            out += member.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise _bad_gzip(f"it is not valid gzip ({exc})") from exc
        if len(out) > max_bytes:
            raise too_large("the decompressed body", max_bytes, "bytes")
        if not member.eof:
            raise _bad_gzip("the gzip stream ends early")
        rest = member.unused_data
    return bytes(out)


def _bad_gzip(why: str) -> ApiError:
    message = f"the body says Content-Encoding: gzip but {why}"
    fix = "gzip the whole JSON body once, or send it uncompressed"
    problem = Problem(message, fix, field="Content-Encoding")
    return ApiError(422, ErrorCode.INVALID_BATCH, message, (problem,))
