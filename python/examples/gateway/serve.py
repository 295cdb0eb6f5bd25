"""Starts the gateway under uvicorn with a header read timeout.

    python python/examples/gateway/serve.py --host 127.0.0.1 --port 8000

uvicorn closes an idle kept-alive connection after ``--timeout-keep-alive``, but not a
connection that never sends a request, nor one that sends half a request head and stops: each
holds one of the server's sockets until the client goes away. Here the HTTP/1.1 protocol closes
any connection that has not sent a whole request head within ``CLINFER_HEADER_TIMEOUT_S``
(10 s), counted from the connection or from the end of the previous response. The body has
its own limit (``CLINFER_BODY_TIMEOUT_S``, enforced by the middleware: 408). The settings
are validated before uvicorn starts, so a bad ``CLINFER_*`` value fails at once.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import uvicorn  # noqa: E402
from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: E402

from settings import ConfigError, Settings  # noqa: E402


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


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=30.0,
        help="seconds open connections may take to finish at shutdown",
    )
    parser.add_argument("--timeout-keep-alive", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"clinfer gateway: {e}", file=sys.stderr)
        return 2
    HeaderTimeoutProtocol.header_timeout_s = settings.header_timeout_s
    config: Any = dict(
        host=args.host,
        port=args.port,
        app_dir=str(HERE),
        http=HeaderTimeoutProtocol,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
    )
    uvicorn.run("app:app", **config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
