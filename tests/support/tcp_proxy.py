"""A TCP proxy on 127.0.0.1 that a test drives: pass, drop, stall, or swallow replies.

    with TcpProxy(("127.0.0.1", engine_port)) as cut:
        shipper = Shipper(spool, f"http://127.0.0.1:{cut.port}", None)
        cut.mode = Mode.DROP        # close every connection, refuse new ones
        cut.mode = Mode.STALL       # accept and hold: no byte moves either way
        cut.mode = Mode.BLACKHOLE   # requests reach the upstream, replies vanish
        cut.mode = Mode.PASS

Setting a mode acts at once on open connections: DROP resets them, STALL freezes
them (they stay frozen until PASS), BLACKHOLE discards what the upstream sends.
It runs its own asyncio loop on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading


class Mode(enum.StrEnum):
    PASS = "pass"
    DROP = "drop"
    STALL = "stall"
    BLACKHOLE = "blackhole"


CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0
        self._mode = Mode.PASS
        self._resumed = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        done = threading.Event()

        def apply() -> None:
            self._mode = mode
            if mode is Mode.STALL:
                self._resumed.clear()
            else:
                self._resumed.set()
            if mode is Mode.DROP:
                for writer in list(self._writers):
                    _reset(writer)
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                _reset(writer)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._resumed.set()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        if self._mode is Mode.DROP:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, downstream=False),
                self._pipe(up_reader, writer, downstream=True),
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        downstream: bool,
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self._resumed.wait()
                if self._mode is Mode.DROP:
                    break
                if downstream and self._mode is Mode.BLACKHOLE:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, as a cut network looks to the peer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    writer.close()
