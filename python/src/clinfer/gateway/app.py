"""An HTTP gateway for clinfer: OAuth2 bearer JWT -> PHI de-identification -> dynamic batching
-> DistilBERT, all in one process, with clinfer's own ``/v1`` API and the Open Inference
Protocol (``/v2``, Triton's HTTP API) over a versioned model repository.

    clinfer-gateway --model models/clinfer-demo-sst2          # or --model-repository DIR

Configuration comes from flags and ``CLINFER_*`` environment variables (``settings.OPTIONS``,
printed by ``clinfer-gateway --help``). Request texts never reach a log: the audit log holds
ids, subjects, routes, models, statuses, PHI counts per kind and latencies; error bodies hold
a kind and a message that never quotes the input; uvicorn's access log is filtered so that it
shows known routes (``/v2`` paths as templates) without query strings.

``create_app(settings, pipeline_factory=...)`` is the factory (tests pass fake pipelines).

- ``settings.py``: ``Settings``, ``OPTIONS`` (flags and environment variables), ``ConfigError``;
- ``auth.py``: bearer JWT verification (HS256/RS256) and scopes;
- ``audit.py``: the audit log, the gateway's logger and the uvicorn access-log filter;
- ``metrics.py``: the registry (HTTP, model loads, pipelines by model and version);
- ``errors.py``: ``ApiError``, clinfer's exceptions -> statuses per protocol, the handlers;
- ``schemas.py``: ``/v1`` request and response bodies;
- ``repository.py``: the model repository on disk and ``clinfer.json``;
- ``models.py``: ``ModelManager`` (background loads, atomic switch, retirement);
- ``oip.py``: the ``/v2`` routes and tensor (de)serialisation;
- ``state.py``: ``Gateway`` (shared state);
- ``middleware.py``: request id, body size limit (413), body timeout (408), metrics, audit;
- ``serve.py``: the ``clinfer-gateway`` command (uvicorn with a header read timeout).
"""

import asyncio
import contextlib
import math
from collections import Counter as CountDict
from typing import Any, AsyncIterator, Dict, List, Optional, Union

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, SecurityScopes
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

import clinfer

from . import oip
from .audit import (
    KNOWN_ROUTES,
    SCOPE_KEY,
    UNAUDITED_ROUTES,
    AccessLogFilter,
    AuditRecord,
    audit_log,
    audit_record,
    ensure_ops_logging,
    install_access_log_filter,
    log,
    route_label,
)
from .auth import (
    Principal,
    TokenVerifier,
    bearer_scheme,
    require_scopes,
    token_scopes,
    verify_bearer,
)
from .errors import (
    STATUS_KINDS,
    ApiError,
    add_exception_handlers,
    clinfer_error_status,
    error_body,
    error_response,
)
from .metrics import HttpMetrics
from .audit import KNOWN_METHODS
from .middleware import DISCARD_FACTOR, GatewayMiddleware
from .models import (
    ClassificationLike,
    ModelManager,
    ModelSpec,
    PipelineFactory,
    PipelineLike,
    classify_on,
    default_pipeline,
)
from .repository import ModelConfig, RepositoryError, VersionPolicy
from .schemas import (
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
from .settings import OPTIONS, ConfigError, Settings
from .state import Gateway, get_gateway

# The public names of the gateway, importable from this module as before the split.
__all__ = [
    # settings
    "OPTIONS",
    "ConfigError",
    "Settings",
    # models and repository
    "ClassificationLike",
    "PipelineLike",
    "PipelineFactory",
    "ModelSpec",
    "ModelManager",
    "ModelConfig",
    "VersionPolicy",
    "RepositoryError",
    "default_pipeline",
    "classify_on",
    # state
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
    # routes and the factory
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
    gw.live(request.scope)
    record = audit_record(request)
    deadline = gw.deadline(body.deadline_ms)
    texts = [body.text] if body.text is not None else (body.texts or [])
    record.texts = len(texts)
    if len(texts) > gw.settings.max_texts:
        raise ApiError(422, "invalid_request", f"at most {gw.settings.max_texts} texts per request")
    sv, results = await classify_on(gw, None, None, texts, deadline, body.priority)
    record.model, record.version = sv.name, str(sv.version)
    total: "CountDict[str]" = CountDict()
    for c in results:
        total.update(c.phi_counts)
    record.phi_counts = dict(total)
    if body.text is not None:
        return _result(results[0])
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
    scrubber = gw.live_scrubber(request.scope)
    record = audit_record(request)
    record.texts = 1
    # The scrubber releases the GIL; running it on a worker thread keeps the event loop free.
    red = await run_in_threadpool(scrubber.redact, body.text)
    record.phi_counts = dict(CountDict(s.kind for s in red.spans))
    return DeidentifyResult(
        text=red.text, spans=[SpanOut(start=s.start, end=s.end, kind=s.kind) for s in red.spans]
    )


@router.get(
    "/v1/drift",
    responses=error_responses(401, 403),
    tags=["operations"],
    summary="Drift report of every serving model version (numbers only, never text)",
)
async def drift(
    principal: Principal = Security(authenticate, scopes=["classify"]),
    gw: Gateway = Depends(get_gateway),
) -> Dict[str, Any]:
    models: List[Dict[str, Any]] = []
    for sv in gw.models.serving():
        report_of = getattr(sv.pipeline, "drift", None)
        report = await run_in_threadpool(report_of) if callable(report_of) else None
        entry: Dict[str, Any] = {"name": sv.name, "version": str(sv.version), "drift": None}
        if report is not None:
            entry["drift"] = {
                "state": report.state,
                "requests": report.requests,
                "reference_requests": report.reference_requests,
                "reference_source": report.reference_source,
                "signals": {
                    name: {
                        # JSON has no NaN: a signal still warming up has no value
                        "value": None if math.isnan(sig.value) else sig.value,
                        "state": sig.state,
                        "warn": sig.warn,
                        "alert": sig.alert,
                    }
                    for name, sig in report.signals.items()
                },
            }
        models.append(entry)
    return {"models": models}


@router.get("/healthz", response_model=Status, tags=["operations"], summary="Liveness")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": ErrorBody, "description": "Warming up or draining"}},
    tags=["operations"],
    summary="Readiness: every model has a version serving and the gateway is not draining",
)
async def readyz(gw: Gateway = Depends(get_gateway)) -> Response:
    if gw.is_ready():
        return JSONResponse({"status": "ready"})
    return error_response(503, "not_ready", "warming up or draining")


@router.get(
    "/metrics",
    response_class=Response,
    tags=["operations"],
    summary="clinfer's and the gateway's metrics (OpenMetrics text)",
)
async def metrics(gw: Gateway = Depends(get_gateway)) -> Response:
    body = await run_in_threadpool(gw.metrics.render)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: Optional[Settings] = None,
    *,
    pipeline_factory: Optional[PipelineFactory] = None,
    serve_extra_ports: bool = False,
) -> FastAPI:
    """Builds the gateway. ``settings`` default to ``Settings.from_env()``. At startup the
    models load in the background (``/readyz`` answers 503 until every model serves) and the
    repository is polled every ``repository_poll_s``; at shutdown every version is drained.
    ``serve_extra_ports``: also expose the metrics on ``settings.metrics_port`` and gRPC on
    ``settings.grpc_port`` (what ``clinfer-gateway`` does; tests in process leave them off)."""
    settings = settings if settings is not None else Settings.from_env()
    if settings.model_dir is None and settings.model_repository is None:
        raise ConfigError(
            "give --model DIR (CLINFER_MODEL_DIR) or --model-repository DIR "
            "(CLINFER_MODEL_REPOSITORY)"
        )
    gw = Gateway(settings, pipeline_factory or default_pipeline)
    ensure_ops_logging()
    install_access_log_filter()

    async def poll(stop: asyncio.Event) -> None:
        await asyncio.to_thread(gw.models.reconcile)
        interval = settings.repository_poll_s
        if settings.model_repository is None or interval <= 0:
            return
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(gw.models.reconcile)
            except Exception as exc:  # noqa: BLE001 - keep polling; never log file contents
                log.error("repository scan failed (%s)", type(exc).__name__)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gw.open_audit()
        stop = asyncio.Event()
        poller: Optional["asyncio.Task[None]"] = None
        metrics_server: Any = None
        grpc_server: Any = None
        try:
            gw.scrubber = await asyncio.to_thread(clinfer.Scrubber)
            if serve_extra_ports and settings.metrics_port:
                metrics_server = _start_metrics_server(gw, settings)
            if serve_extra_ports and settings.grpc_port:
                grpc_server = await _start_grpc(gw, settings)
            poller = asyncio.ensure_future(poll(stop))
            log.info("gateway started: %r", settings)
            yield
        finally:
            gw.draining = True
            stop.set()
            if grpc_server is not None:
                await grpc_server.stop(settings.drain_timeout_s)
            if poller is not None:
                with contextlib.suppress(Exception):
                    await poller
            drained = await asyncio.to_thread(gw.models.close, settings.drain_timeout_s)
            log.info("gateway stopped: pipeline closed (drained=%s)", drained)
            if metrics_server is not None:
                metrics_server.shutdown()
            gw.close_audit()

    app = FastAPI(
        title="clinfer gateway",
        version=clinfer.__version__,
        description="OAuth2 bearer JWT -> PHI de-identification -> dynamic batching -> "
        "DistilBERT, in one process: clinfer's /v1 API and the Open Inference Protocol (/v2). "
        "Request texts are never logged.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    app.include_router(router)
    app.include_router(oip.router)
    add_exception_handlers(app)
    app.add_middleware(GatewayMiddleware, gateway=gw)
    return app


async def _start_grpc(gw: Gateway, settings: Settings) -> Any:
    """The gRPC server, when grpcio and tritonclient[grpc] are installed."""
    try:
        from . import grpc_server
    except ImportError:
        log.warning(
            "gRPC is off: install grpcio and tritonclient[grpc] (pip install "
            "'clinfer[gateway,grpc]'), or set --grpc-port 0 to silence this"
        )
        return None
    return await grpc_server.start(gw, settings.host, settings.grpc_port)


def _start_metrics_server(gw: Gateway, settings: Settings) -> Any:
    """prometheus_client's HTTP server for the registry, on its own port and thread."""
    from prometheus_client import start_http_server

    started = start_http_server(settings.metrics_port, addr=settings.host, registry=gw.metrics.registry)
    server = started[0] if isinstance(started, tuple) else None
    log.info("metrics on port %d", settings.metrics_port)
    return server
