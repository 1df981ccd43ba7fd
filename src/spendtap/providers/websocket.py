"""WebSocket messages as a byte stream that a ``ResponseReader`` can read.

A reader takes a body as bytes in any split, so the capture step hands it the server's
messages on a WebSocket connection framed as server-sent events: each text message
becomes one event whose ``data:`` lines are the message's lines. The decoder joins
them back with line feeds, so a JSON message keeps its meaning exactly (a JSON text
has line breaks only in whitespace). Recorded-shape fixtures hold the same framing.
"""

from __future__ import annotations

#: The status of the response that upgrades a request to a WebSocket.
SWITCHING_PROTOCOLS = 101

#: Close codes after which the connection is taken to have ended abnormally.
ABNORMAL_CLOSE_CODES = frozenset({1006})


def frame_message(text: bytes) -> bytes:
    """One server text message as one server-sent event."""
    lines = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def closed_normally(close_code: int | None) -> bool:
    """Whether a connection closed with this code ended as its peers meant it to."""
    return close_code is not None and close_code not in ABNORMAL_CLOSE_CODES
