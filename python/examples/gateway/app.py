"""An HTTP gateway for clinfer: OAuth2 bearer JWT -> PHI de-identification -> dynamic batching
-> DistilBERT, all in one process.

    CLINFER_JWT_HS256_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')" \\
        uvicorn app:app --app-dir python/examples/gateway --host 127.0.0.1 --port 8000

Configuration comes from environment variables (see ``Settings.from_env`` and README.md).
Request texts never reach a log: the audit log holds ids, subjects, routes, statuses, PHI counts
per kind and latencies; error bodies hold a kind and a message that never quotes the input;
uvicorn's access log is filtered so that it shows known routes without query strings.

``create_app(settings, pipeline_factory=...)`` is the factory (tests pass a fake pipeline);
the module-level ``app`` is created on first access, from the environment.

This module holds the routes and the app factory; the rest lives in sibling modules, imported
by their plain names (this folder is put on ``sys.path`` below when it is not there already):

- ``settings.py``: ``Settings`` (environment variables) and ``ConfigError``;
- ``auth.py``: bearer JWT verification (HS256/RS256) and scopes;
- ``audit.py``: the audit log, the gateway's logger and the uvicorn access-log filter;
- ``metrics.py``: the HTTP metrics (prometheus_client) and the ``/metrics`` document;
- ``errors.py``: ``ApiError``, clinfer's exceptions -> statuses, the exception handlers;
- ``schemas.py``: request and response bodies;
- ``state.py``: ``PipelineLike`` (what the gateway needs from clinfer) and ``Gateway`` (state);
- ``middleware.py``: request id, body size limit (413), HTTP metrics, audit line, last 500.
"""

import sys
from pathlib import Path

# uvicorn's --app-dir puts this folder on sys.path; loaded any other way (by file path, or
# `python path/to/app.py`), make the sibling modules importable all the same.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
from collections import Counter as CountDict  # noqa: E402
from typing import Any, AsyncIterator, Optional, Union  # noqa: E402

from fastapi import APIRouter, Depends, FastAPI, Request, Security  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, SecurityScopes  # noqa: E402
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

import clinfer  # noqa: E402
from audit import (  # noqa: E402
    KNOWN_ROUTES,
    AccessLogFilter,
    SCOPE_KEY,
    UNAUDITED_ROUTES,
    AuditRecord,
    audit_log,
    audit_record,
    ensure_ops_logging,
    install_access_log_filter,
    log,
    route_label,
)
from auth import (  # noqa: E402
    Principal,
    TokenVerifier,
    bearer_scheme,
    require_scopes,
    token_scopes,
    verify_bearer,
)
from errors import (  # noqa: E402
    STATUS_KINDS,
    ApiError,
    add_exception_handlers,
    clinfer_error_status,
    error_body,
    error_response,
)
from metrics import HttpMetrics, openmetrics_document  # noqa: E402
from middleware import DISCARD_FACTOR, KNOWN_METHODS, GatewayMiddleware  # noqa: E402
from schemas import (  # noqa: E402
    ClassifyBatchResult,
    ClassifyRequest,
    ClassifyResult,
    DeidentifyRequest,
    DeidentifyResult,
    ErrorBody,
    ErrorDetail,
    SpanOut,
    Status,
    error_responses,
)
from settings import DEFAULT_MODEL, ConfigError, Settings  # noqa: E402
from state import (  # noqa: E402
    ClassificationLike,
    Gateway,
    PipelineFactory,
    PipelineLike,
    default_pipeline,
    get_gateway,
)

# The public names of the gateway, importable from this module as before the split.
__all__ = [
    # settings
    "DEFAULT_MODEL",
    "ConfigError",
    "Settings",
    # state
    "ClassificationLike",
    "PipelineLike",
    "PipelineFactory",
    "default_pipeline",
    "Gateway",
    "get_gateway",
    # schemas
    "ClassifyRequest",
    "ClassifyResult",
    "ClassifyBatchResult",
    "DeidentifyRequest",
    "SpanOut",
    "DeidentifyResult",
    "ErrorBody",
    "ErrorDetail",
    "Status",
    # errors
    "ApiError",
    "STATUS_KINDS",
    "clinfer_error_status",
    "error_response",
    "error_body",
    # auth
    "Principal",
    "TokenVerifier",
    "token_scopes",
    "bearer_scheme",
    "authenticate",
    # audit
    "KNOWN_ROUTES",
    "AccessLogFilter",
    "UNAUDITED_ROUTES",
    "SCOPE_KEY",
    "log",
    "audit_log",
    "AuditRecord",
    "audit_record",
    "route_label",
    # metrics, middleware
    "HttpMetrics",
    "KNOWN_METHODS",
    "DISCARD_FACTOR",
    "GatewayMiddleware",
    # routes and the factory (the lazily created ``app`` is deliberately not listed)
    "router",
    "classify",
    "deidentify",
    "healthz",
    "readyz",
    "metrics",
    "create_app",
]


# ---------------------------------------------------------------------------------------------
# Authentication dependency, routes, app factory
# ---------------------------------------------------------------------------------------------


async def authenticate(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Optional[HTTPAuthorizationCredentials] = Security(bearer_scheme),
    gw: Gateway = Depends(get_gateway),
) -> Principal:
    """The bearer token's principal (401 unless valid), which must hold the route's scopes (403).
    The subject goes to the audit record before the scope check, so 403 lines name it too."""
    principal = verify_bearer(gw.verifier, credentials)
    audit_record(request).sub = principal.sub
    require_scopes(principal, security_scopes)
    return principal


def _result(c: ClassificationLike) -> ClassifyResult:
    return ClassifyResult(
        label=c.label,
        score=c.score,
        logits=list(c.logits),
        redacted=c.redacted,
        phi_counts=dict(c.phi_counts),
        tokens=c.tokens,
        total_ms=c.total_s * 1e3,
    )


router = APIRouter()


@router.post(
    "/v1/classify",
    response_model=Union[ClassifyResult, ClassifyBatchResult],
    responses=error_responses(401, 403, 413, 422, 429, 500, 503, 504),
    tags=["inference"],
    summary="De-identify and classify one note or several",
)
async def classify(
    body: ClassifyRequest,
    request: Request,
    principal: Principal = Security(authenticate, scopes=["classify"]),
    gw: Gateway = Depends(get_gateway),
) -> Union[ClassifyResult, ClassifyBatchResult]:
    pipe = gw.live_pipeline()
    record = audit_record(request)
    deadline = gw.deadline(body.deadline_ms)
    if body.text is not None:
        record.texts = 1
        c = await pipe.classify(body.text, deadline_ms=deadline, priority=body.priority)
        record.phi_counts = dict(c.phi_counts)
        return _result(c)
    texts = body.texts or []
    record.texts = len(texts)
    if len(texts) > gw.settings.max_texts:
        raise ApiError(422, "invalid_request", f"at most {gw.settings.max_texts} texts per request")
    results = await pipe.classify_many(texts, deadline_ms=deadline, priority=body.priority)
    total: "CountDict[str]" = CountDict()
    for c in results:
        total.update(c.phi_counts)
    record.phi_counts = dict(total)
    return ClassifyBatchResult(results=[_result(c) for c in results])


@router.post(
    "/v1/deidentify",
    response_model=DeidentifyResult,
    responses=error_responses(401, 403, 413, 422, 500, 503),
    tags=["inference"],
    summary="Find and tag the PHI in one note",
)
async def deidentify(
    body: DeidentifyRequest,
    request: Request,
    principal: Principal = Security(authenticate, scopes=["deidentify"]),
    gw: Gateway = Depends(get_gateway),
) -> DeidentifyResult:
    if gw.scrubber is None or gw.draining:
        raise clinfer.ShuttingDown("the gateway is shutting down")
    record = audit_record(request)
    record.texts = 1
    # The scrubber releases the GIL; running it on a worker thread keeps the event loop free.
    red = await run_in_threadpool(gw.scrubber.redact, body.text)
    record.phi_counts = dict(CountDict(s.kind for s in red.spans))
    return DeidentifyResult(
        text=red.text, spans=[SpanOut(start=s.start, end=s.end, kind=s.kind) for s in red.spans]
    )


@router.get("/healthz", response_model=Status, tags=["operations"], summary="Liveness")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": ErrorBody, "description": "Warming up or draining"}},
    tags=["operations"],
    summary="Readiness: the model is warm and the gateway is not draining",
)
async def readyz(gw: Gateway = Depends(get_gateway)) -> Response:
    if gw.pipeline is not None and not gw.draining and gw.pipeline.is_ready():
        return JSONResponse({"status": "ready"})
    return error_response(503, "not_ready", "warming up or draining")


@router.get(
    "/metrics",
    response_class=Response,
    tags=["operations"],
    summary="clinfer's and the gateway's metrics (OpenMetrics text)",
)
async def metrics(gw: Gateway = Depends(get_gateway)) -> Response:
    clinfer_text = gw.pipeline.metrics() if gw.pipeline is not None else None
    body = openmetrics_document(clinfer_text, gw.metrics)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: Optional[Settings] = None,
    *,
    pipeline_factory: Optional[PipelineFactory] = None,
) -> FastAPI:
    """Builds the gateway. ``settings`` default to ``Settings.from_env()``; the pipeline is
    created at startup and closed (drained) at shutdown."""
    settings = settings if settings is not None else Settings.from_env()
    gw = Gateway(settings, pipeline_factory or default_pipeline)
    ensure_ops_logging()
    install_access_log_filter()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gw.open_audit()
        try:
            gw.scrubber = await asyncio.to_thread(clinfer.Scrubber)
            gw.pipeline = await asyncio.to_thread(gw.pipeline_factory, settings)
            log.info("gateway started: %r", settings)
            yield
        finally:
            gw.draining = True
            if gw.pipeline is not None:
                drained = await asyncio.to_thread(gw.pipeline.close, settings.drain_timeout_s)
                log.info("gateway stopped: pipeline closed (drained=%s)", drained)
            gw.close_audit()

    app = FastAPI(
        title="clinfer gateway",
        version=clinfer.__version__,
        description="OAuth2 bearer JWT -> PHI de-identification -> dynamic batching -> "
        "DistilBERT, in one process. Request texts are never logged.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    app.include_router(router)
    add_exception_handlers(app)
    app.add_middleware(GatewayMiddleware, gateway=gw)
    return app


_app: Optional[FastAPI] = None


def __getattr__(name: str) -> Any:
    """``app`` is created on first access (``uvicorn app:app``), so that importing this module
    does not need the environment."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)


if __name__ == "__main__":  # pragma: no cover - convenience
    import uvicorn

    uvicorn.run(
        create_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
    )
