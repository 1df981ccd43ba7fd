"""Runs the simulator app with TLS (HTTP/1.1) on a background thread.

    with start_simulator(make_test_pki(tmp)) as sim:
        client = anthropic.Anthropic(base_url=sim.url, ...)

The listening socket is bound before the thread starts, so a busy port fails in the
caller and ``port=0`` gives a free port known at once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from spendtap.errors import ConfigError
from spendtap.simulator.app import build_app
from spendtap.simulator.certs import TestPKI
from spendtap.simulator.transport import DeliberateCutFilter

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
GRACEFUL_SHUTDOWN_S = 2


class RunningSimulator:
    """A simulator serving on ``url`` until ``stop()`` (or the end of a with block)."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int
    ) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT_S)
        log.info("simulator.server.stopped port=%d", self.port)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    pki: TestPKI,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ledger: Path | None = None,
) -> RunningSimulator:
    """Start serving the simulator on ``host:port`` (0: a free port) and return."""
    sock = _bind(host, port)
    config = uvicorn.Config(
        build_app(ledger=ledger),
        ssl_certfile=str(pki.leaf_cert),
        ssl_keyfile=str(pki.leaf_key),
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    _load(config, sock, pki)
    server = uvicorn.Server(config)
    _quiet_deliberate_cuts()

    bound_port = int(sock.getsockname()[1])
    thread = threading.Thread(
        target=_serve,
        args=(server, sock),
        name=f"spendtap-simulator-{bound_port}",
        daemon=True,
    )
    thread.start()
    _wait_started(server, thread, bound_port)
    log.info("simulator.server.started port=%d", bound_port)
    return RunningSimulator(server, thread, host, bound_port)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"the simulator cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another port, or 0 for any free one"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _load(config: uvicorn.Config, sock: socket.socket, pki: TestPKI) -> None:
    """Load the TLS files here, so a bad one fails in the caller, not the thread."""
    try:
        config.load()
    except (OSError, ValueError) as exc:
        sock.close()
        raise ConfigError(
            f"the simulator cannot use the certificate {pki.leaf_cert} with key "
            f"{pki.leaf_key} ({exc}); make them with make_test_pki()"
        ) from exc


def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"the simulator did not start on port {port} within "
                f"{START_TIMEOUT_S:.0f} s; check the certificate files and the "
                "log above"
            )
        time.sleep(0.01)


def _quiet_deliberate_cuts() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DeliberateCutFilter) for f in logger.filters):
        logger.addFilter(DeliberateCutFilter())
