"""Error answers: ``ApiError`` (decided by the gateway itself), the mapping of clinfer's
exceptions to statuses, and the exception handlers.

Two protocols, one table: under ``/v1`` every error body is
``{"error": {"kind": kind, "message": message}}`` (the same body as
``examples/axum_server.rs``) with ``/v1``'s statuses (422 for invalid input); under ``/v2``
(the Open Inference Protocol) it is ``{"error": message}`` with the protocol's statuses (400
for invalid input), from clinfer's own table (``exc.http_status`` / ``exc.oip_status``). The
message never quotes the request's text."""

import math
from typing import Any, Dict, Mapping, Optional, Tuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import clinfer
from .audit import audit_record


class ApiError(Exception):
    """An error answer decided by the gateway itself (auth, limits)."""

    def __init__(
        self, status: int, kind: str, detail: str, headers: Optional[Dict[str, str]] = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers


STATUS_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
    429: "overloaded",
    500: "internal",
    503: "unavailable",
    504: "deadline_exceeded",
}


def is_oip(path: str) -> bool:
    """Whether a request path belongs to the Open Inference Protocol (``/v2``)."""
    return path == "/v2" or path.startswith("/v2/")


def clinfer_error_status(
    exc: "clinfer.ClinferError", oip: bool = False
) -> Tuple[int, str, Dict[str, str]]:
    """Maps a clinfer exception to (status, kind, extra headers): the kind and the status
    (``/v1``'s, or the OIP's when ``oip``) come from clinfer's own table (``exc.kind``,
    ``exc.http_status``, ``exc.oip_status``)."""
    kind = str(getattr(exc, "kind", "internal"))
    status = getattr(exc, "oip_status" if oip else "http_status", 500)
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = 500
    headers: Dict[str, str] = {}
    if isinstance(exc, clinfer.Overloaded):
        retry = getattr(exc, "retry_after", 1.0)
        try:
            secs = math.ceil(float(retry)) if math.isfinite(float(retry)) else 1
        except (TypeError, ValueError):
            secs = 1
        headers["Retry-After"] = str(max(1, secs))
    return status, kind, headers


def error_response(
    status: int, kind: str, detail: str, headers: Optional[Mapping[str, str]] = None
) -> JSONResponse:
    return JSONResponse(error_body(kind, detail), status_code=status, headers=headers)


def error_body(kind: str, message: str) -> Dict[str, Dict[str, str]]:
    """The one ``/v1`` error body."""
    return {"error": {"kind": kind, "message": message}}


def protocol_error(path: str, status: int, kind: str, message: str) -> Tuple[int, Any]:
    """(status, body) of an error for a request to ``path``: the OIP shape and statuses under
    ``/v2``, the ``/v1`` shape elsewhere."""
    if is_oip(path):
        return (400 if status == 422 else status), {"error": message}
    return status, error_body(kind, message)


def respond_error(
    request: Request,
    status: int,
    kind: str,
    message: str,
    headers: Optional[Mapping[str, str]] = None,
) -> JSONResponse:
    status, body = protocol_error(request.url.path, status, kind, message)
    return JSONResponse(body, status_code=status, headers=headers)


def _note_error(request: Request, kind: str) -> None:
    audit_record(request).error = kind


async def _on_clinfer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, clinfer.ClinferError)
    oip = is_oip(request.url.path)
    status, kind, headers = clinfer_error_status(exc, oip)
    _note_error(request, kind)
    # clinfer's messages hold sizes, limits and indices only, never input text.
    if oip:
        return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)
    return error_response(status, kind, str(exc), headers)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    _note_error(request, exc.kind)
    return respond_error(request, exc.status, exc.kind, exc.detail, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI answers 400 when the body cannot be parsed at all (invalid UTF-8, nesting
        # too deep for json.loads): a body that does not match the schema, like any other (422)
        _note_error(request, "invalid_request")
        return respond_error(
            request,
            422,
            "invalid_request",
            "the body is not valid JSON (invalid UTF-8 or nesting too deep)",
        )
    kind = STATUS_KINDS.get(exc.status_code, "error")
    _note_error(request, kind)
    detail = exc.detail if isinstance(exc.detail, str) else kind
    return respond_error(request, exc.status_code, kind, detail, exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's default 422 body echoes the offending input; this one keeps only where and why.
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(
            str(p) if isinstance(p, int) or p in _FIELD_NAMES else "?" for p in err.get("loc", ())
        )
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    _note_error(request, "invalid_request")
    return respond_error(request, 422, "invalid_request", "; ".join(parts) or "invalid request")


_FIELD_NAMES = frozenset({"body", "text", "texts", "deadline_ms", "priority"})


def add_exception_handlers(app: FastAPI) -> None:
    """Installs the handlers that turn exceptions into the gateway's error bodies."""
    app.add_exception_handler(clinfer.ClinferError, _on_clinfer_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
