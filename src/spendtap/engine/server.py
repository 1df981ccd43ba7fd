"""Running the engine app under uvicorn, in the main thread or a background one.

    server = EngineServer("sqlite:///var/engine.sqlite3", "127.0.0.1", 0)
    server.start_in_thread()      # returns once it listens; server.url is then known
    ...
    server.stop()

or ``EngineServer(...).run()`` to serve in this thread until SIGINT/SIGTERM. The
lower-level :func:`serve` returns the ``uvicorn.Server`` itself.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
import threading
import time

import uvicorn

from spendtap.engine.app import create_app
from spendtap.engine.state import EngineConfig
from spendtap.errors import EngineError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
#: Seconds open connections (live feeds) get to finish when the server stops.
GRACEFUL_STOP_S = 3


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or name (nothing else can reach it)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ingest_token: str | None = None,
    log_level: str = "warning",
    config: EngineConfig | None = None,
) -> uvicorn.Server:
    """A uvicorn server for the engine app, not yet started (call ``run()``).

    Logging is left to the caller (no uvicorn logging config is installed). With
    port 0, :class:`EngineServer` tells the port it got; prefer it. Raises
    ConfigError when ``host`` is reachable from other machines without enrollment.
    """
    config = config or EngineConfig()
    access = dataclasses.replace(config.access, loopback_only=is_loopback(host))
    access.check_exposure(host)
    app = create_app(
        db_url,
        ingest_token=ingest_token,
        config=dataclasses.replace(config, access=access),
    )
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
    )
    return uvicorn.Server(server_config)


def close_app(server: uvicorn.Server) -> None:
    """Close the database pool of ``server``'s app (also when it never started)."""
    app = server.config.app
    state = getattr(getattr(app, "state", None), "spendtap", None)
    if state is not None:
        state.db.dispose()


class EngineServer:
    """The engine app under uvicorn, on a socket it binds itself (clear errors)."""

    def __init__(
        self,
        db_url: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ingest_token: str | None = None,
        log_level: str = "warning",
        config: EngineConfig | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.server = serve(
            db_url,
            host,
            port,
            ingest_token=ingest_token,
            log_level=log_level,
            config=config,
        )
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``, with the bound port once the socket is bound."""
        port = self._socket.getsockname()[1] if self._socket else self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def run(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM (or :meth:`stop`)."""
        sock = self._bind()
        try:
            self.server.run(sockets=[sock])
        except SystemExit as exc:
            # uvicorn exits the process on a start-up failure; report it instead.
            raise EngineError(
                f"the engine at {self.url} stopped while starting (code {exc.code}); "
                "its log says why"
            ) from exc
        finally:
            sock.close()
            close_app(self.server)

    def start_in_thread(self, timeout: float = START_TIMEOUT_S) -> None:
        """Serve from a daemon thread; return once it listens, else EngineError."""
        sock = self._bind()
        thread = threading.Thread(
            target=self._serve_in_thread,
            args=(sock,),
            name="spendtap-engine",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise EngineError(
                    f"the engine did not start at {self.url} within {timeout:g} s; "
                    "its log says why"
                )
            time.sleep(0.01)
        log.info("engine.server.started url=%s", self.url)

    def stop(self, timeout: float = START_TIMEOUT_S) -> None:
        """Ask the server to finish its requests and stop; wait for its thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("engine.server.stop_timeout seconds=%s", timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
        close_app(self.server)

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            close_app(self.server)
            raise EngineError(
                f"the engine cannot listen on {self.host}:{self.port} "
                f"({exc.strerror}); pick another address or port with --listen"
            ) from exc
        self._socket = sock
        return sock

    def _serve_in_thread(self, sock: socket.socket) -> None:
        try:
            self.server.run(sockets=[sock])
        except SystemExit as exc:
            log.error("engine.server.start_failed url=%s code=%s", self.url, exc.code)
