"""``clinfer-gateway`` (also ``python -m clinfer.gateway``): validates the settings, then runs
the gateway under uvicorn with a header read timeout.

uvicorn closes an idle kept-alive connection after ``--timeout-keep-alive``, but not a
connection that never sends a request, nor one that sends half a request head and stops: each
holds one of the server's sockets until the client goes away. Here the HTTP/1.1 protocol closes
any connection that has not sent a whole request head within ``CLINFER_HEADER_TIMEOUT_S``
(10 s), counted from the connection or from the end of the previous response. The body has
its own limit (``CLINFER_BODY_TIMEOUT_S``, enforced by the middleware: 408).

Shutdown (``DrainingServer``): the first SIGTERM turns the gateway unready at once
(``/v2/health/ready`` and ``/readyz`` answer 503, new inference requests 503 ``shutting_down``)
while the listener stays open, so probes see the 503 rather than a refused connection. The
requests already in flight or queued then run to completion, for up to
``CLINFER_DRAIN_TIMEOUT_S``; then uvicorn's own shutdown closes the listener and the
connections, the lifespan closes the models (what is still queued gets the drain timeout once
more) and the process exits 0. A second SIGTERM skips the wait; SIGINT (Ctrl+C) is uvicorn's:
stop now, twice to force.
"""

import argparse
import asyncio
import logging
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import OPTIONS, ConfigError, Settings, options_table

if TYPE_CHECKING:
    from .state import Gateway

log = logging.getLogger("clinfer.gateway")


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not send a request head in time."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: Optional[asyncio.TimerHandle] = None
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()  # the head is in: the request runs under the app's own limits

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head must come in time too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._disarm()
        super().connection_lost(exc)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain before its shutdown: see the module docstring."""

    def __init__(self, config: uvicorn.Config, gateway: "Gateway", drain_timeout_s: float) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.drain_timeout_s = drain_timeout_s
        self._drain_deadline: Optional[float] = None
        self._drain_started = 0.0
        self._draining_tasks: Set["asyncio.Task[None]"] = set()
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: Optional[FrameType]) -> None:
        if sig != signal.SIGTERM or self.should_exit:
            super().handle_exit(sig, frame)
        elif self._drain_deadline is None:
            # Runs on the event loop's thread between two bytecodes: plain assignments only.
            self._draining_tasks = set(self.server_state.tasks)
            self.gateway.begin_drain(self._draining_tasks)
            self._drain_started = time.monotonic()
            self._drain_deadline = self._drain_started + self.drain_timeout_s
        else:
            self.should_exit = True  # a second SIGTERM: stop waiting

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and not self.should_exit:
            if not self._drain_logged:
                self._drain_logged = True
                log.info("SIGTERM: draining, not ready; waiting up to %.1f s for %d request(s)",
                         self.drain_timeout_s, len(self._draining_tasks))
            pending = [t for t in self._draining_tasks if not t.done()]
            if not pending:
                log.info("drained: every request in flight at SIGTERM has finished (%.2f s)",
                         time.monotonic() - self._drain_started)
                self.should_exit = True
            elif time.monotonic() >= self._drain_deadline:
                log.warning("drain timeout (%.1f s): %d request(s) still running",
                            self.drain_timeout_s, len(pending))
                self.should_exit = True
        return await super().on_tick(counter)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinfer-gateway",
        description="clinfer's HTTP gateway: /v1 and the Open Inference Protocol (/v2).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (a flag wins over its variable):\n" + options_table(),
    )
    for opt in OPTIONS:
        if opt.flag is None:
            continue
        kind: Any = {"int": int, "float": float}.get(opt.kind, str)
        parser.add_argument(opt.flag, dest=opt.field, type=kind, default=None,
                            metavar=opt.kind.upper(), help=f"{opt.help} [{opt.env}]")
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=30.0,
        help="seconds open connections may take to finish at shutdown (30)",
    )
    parser.add_argument("--timeout-keep-alive", type=float, default=5.0,
                        help="seconds an idle kept-alive connection stays open (5)")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (info)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    overrides: Dict[str, Any] = {
        o.field: getattr(args, o.field) for o in OPTIONS if o.flag is not None
    }
    try:
        settings = Settings.from_env(overrides=overrides)
        from .app import create_app

        app = create_app(settings, serve_extra_ports=True)
    except ConfigError as e:
        print(f"clinfer-gateway: {e}", file=sys.stderr)
        return 2
    HeaderTimeoutProtocol.header_timeout_s = settings.header_timeout_s
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=HeaderTimeoutProtocol,
        timeout_keep_alive=int(args.timeout_keep_alive),
        timeout_graceful_shutdown=int(args.timeout_graceful_shutdown),
        log_level=args.log_level,
    )
    server = DrainingServer(config, app.state.gateway, settings.drain_timeout_s)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    # uvicorn.run's status when the server never started (port taken, failed lifespan): 3
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(main())
