"""One pure ASGI middleware for every HTTP request: a request id (``X-Request-ID``), the body
size limit (413), the HTTP metrics, one audit line, and a last-resort 500."""

import asyncio
import json
import time
import traceback
import uuid
from typing import Any, Dict, List, Optional

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .audit import KNOWN_METHODS, SCOPE_KEY, UNAUDITED_ROUTES, AuditRecord, log, route_label
from .errors import protocol_error
from .state import Gateway

DISCARD_FACTOR = 8  # see GatewayMiddleware._read_body


class GatewayMiddleware:
    """Per request: an id (``X-Request-ID``), the body size limit (413), HTTP metrics, one
    audit line, and a last-resort 500 that logs the exception's type and frames but not its
    message (messages can quote data)."""

    def __init__(self, app: ASGIApp, *, gateway: Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        record = AuditRecord(request_id=str(uuid.uuid4()))
        scope[SCOPE_KEY] = record
        path = scope.get("path", "")
        route = route_label(path)
        method = scope.get("method", "GET")
        method = method if method in KNOWN_METHODS else "other"
        status = 500
        started = False
        metrics = self.gw.metrics

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                MutableHeaders(scope=message).append("X-Request-ID", record.request_id)
            await send(message)

        self.gw.mark_arrival(scope)
        metrics.in_flight.labels(route).inc()
        try:
            try:
                body = await asyncio.wait_for(
                    self._read_body(scope, receive), self.gw.settings.body_timeout_s
                )
            except asyncio.TimeoutError:
                # a client that stops sending half-way holds neither a worker nor a shutdown
                record.error = "request_timeout"
                await _send_error(
                    send_wrapper, path, 408, record.error, "the request body was not received in time"
                )
                return
            if body is None:
                record.error = "payload_too_large"
                limit = self.gw.settings.max_body_bytes
                detail = f"the request body exceeds {limit} bytes"
                await _send_error(send_wrapper, path, 413, record.error, detail)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - the last resort; see the class docstring
            record.error = "internal"
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "unhandled %s in request %s (message withheld)\n%s",
                type(exc).__name__,
                record.request_id,
                frames,
            )
            if not started:
                await _send_error(send_wrapper, path, 500, "internal", "internal error")
        finally:
            elapsed = time.perf_counter() - start
            metrics.in_flight.labels(route).dec()
            metrics.requests.labels(route, method, str(status)).inc()
            metrics.latency.labels(route, method).observe(elapsed)
            if route not in UNAUDITED_ROUTES:
                self.gw.audit(record, method, route, status, elapsed)

    async def _read_body(self, scope: Scope, receive: Receive) -> Optional[bytes]:
        """The whole body, or None when it exceeds the limit (checked on Content-Length first,
        then on the bytes received, so chunked bodies are bounded too).

        An oversized body is still read and discarded, up to ``DISCARD_FACTOR`` times the
        limit, before the 413 goes out: closing a socket with unread data resets the
        connection, and the client could then lose the 413 answer."""
        limit = self.gw.settings.max_body_bytes
        declared: Optional[int] = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    pass
        if declared is not None and declared > limit * DISCARD_FACTOR:
            return None
        chunks: List[bytes] = []
        size = 0
        too_large = declared is not None and declared > limit
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                too_large = True
                chunks.clear()
                if size > limit * DISCARD_FACTOR:
                    break
            elif not too_large:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return None if too_large else b"".join(chunks)


async def _send_error(send: Send, path: str, status: int, kind: str, message: str) -> None:
    status, body = protocol_error(path, status, kind, message)
    await _send_json(send, status, body)


async def _send_json(send: Send, status: int, body: Dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
