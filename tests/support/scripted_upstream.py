"""A TLS HTTP/1.1 server for tests that answers with a scripted, timed, chunked body.

It stands in for a provider when a test needs to know exactly which bytes the upstream
sent and when: each piece is written as its own chunk after its delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Script:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    pieces: list[tuple[float, bytes]] = field(default_factory=list)


@dataclass
class Received:
    head: bytes
    body: bytes


class ScriptedUpstream:
    def __init__(self, cert: Path, key: Path, script: Script) -> None:
        self.script = script
        self.sent_at: list[float] = []
        self.finished_at: float | None = None
        self.received: list[Received] = []
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> ScriptedUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ssl)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            self.received.append(Received(head, body))
            await self._respond(writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _respond(self, writer: asyncio.StreamWriter) -> None:
        s = self.script
        lines = [f"HTTP/1.1 {s.status} OK", *(f"{k}: {v}" for k, v in s.headers)]
        lines += ["transfer-encoding: chunked", "connection: close", "", ""]
        writer.write("\r\n".join(lines).encode())
        await writer.drain()
        for delay, piece in s.pieces:
            await asyncio.sleep(delay)
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            self.sent_at.append(time.monotonic())
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        self.finished_at = time.monotonic()
