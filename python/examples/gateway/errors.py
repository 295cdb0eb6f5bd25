"""Error answers: ``ApiError`` (decided by the gateway itself), the mapping of clinfer's
exceptions to statuses, and the exception handlers. Every error body is
``{"error": {"kind": kind, "message": message}}`` (the same ``/v1`` error body as
``examples/axum_server.rs``) and the message never quotes the request's text."""

import math
from typing import Dict, Mapping, Optional, Tuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import clinfer
from audit import audit_record


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


def clinfer_error_status(exc: "clinfer.ClinferError") -> Tuple[int, str, Dict[str, str]]:
    """Maps a clinfer exception to (status, kind, extra headers): the kind and the ``/v1``
    status come from clinfer's own table (``exc.kind``, ``exc.http_status``)."""
    kind = str(getattr(exc, "kind", "internal"))
    status = getattr(exc, "http_status", 500)
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


def _note_error(request: Request, kind: str) -> None:
    audit_record(request).error = kind


async def _on_clinfer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, clinfer.ClinferError)
    status, kind, headers = clinfer_error_status(exc)
    _note_error(request, kind)
    # clinfer's messages hold sizes, limits and indices only, never input text.
    return error_response(status, kind, str(exc), headers)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    _note_error(request, exc.kind)
    return error_response(exc.status, exc.kind, exc.detail, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI answers 400 when the body cannot be parsed at all (invalid UTF-8, nesting
        # too deep for json.loads): a body that does not match the schema, like any other (422)
        _note_error(request, "invalid_request")
        return error_response(
            422, "invalid_request", "the body is not valid JSON (invalid UTF-8 or nesting too deep)"
        )
    kind = STATUS_KINDS.get(exc.status_code, "error")
    _note_error(request, kind)
    detail = exc.detail if isinstance(exc.detail, str) else kind
    return error_response(exc.status_code, kind, detail, exc.headers)


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
    return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")


_FIELD_NAMES = frozenset({"body", "text", "texts", "deadline_ms", "priority"})


def add_exception_handlers(app: FastAPI) -> None:
    """Installs the handlers that turn exceptions into the gateway's error bodies."""
    app.add_exception_handler(clinfer.ClinferError, _on_clinfer_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
