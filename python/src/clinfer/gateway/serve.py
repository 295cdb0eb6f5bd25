"""``clinfer-gateway`` (also ``python -m clinfer.gateway``): validates the settings, then runs
the gateway under uvicorn with a header read timeout.

uvicorn closes an idle kept-alive connection after ``--timeout-keep-alive``, but not a
connection that never sends a request, nor one that sends half a request head and stops: each
holds one of the server's sockets until the client goes away. Here the HTTP/1.1 protocol closes
any connection that has not sent a whole request head within ``CLINFER_HEADER_TIMEOUT_S``
(10 s), counted from the connection or from the end of the previous response. The body has
its own limit (``CLINFER_BODY_TIMEOUT_S``, enforced by the middleware: 408).
"""

import argparse
import asyncio
import sys
from typing import Any, Dict, List, Optional

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import OPTIONS, ConfigError, Settings, options_table


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
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=HeaderTimeoutProtocol,
        timeout_keep_alive=int(args.timeout_keep_alive),
        timeout_graceful_shutdown=int(args.timeout_graceful_shutdown),
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
