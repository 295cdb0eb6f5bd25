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
"""

import asyncio
import contextlib
import datetime
import json
import logging
import math
import os
import sys
import time
import traceback
import uuid
from collections import Counter as CountDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    Union,
)

import jwt
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import clinfer

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "clinfer-demo-sst2"

#: Routes this app serves; anything else is reported as "other" in metrics, audit and access log.
KNOWN_ROUTES = frozenset(
    {
        "/v1/classify",
        "/v1/deidentify",
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
    }
)
#: Probes and scrapes are counted in the HTTP metrics but not written to the audit log.
UNAUDITED_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
DISCARD_FACTOR = 8  # see GatewayMiddleware._read_body
SCOPE_KEY = "clinfer.audit"  # where the middleware leaves the request's AuditRecord in the scope

log = logging.getLogger("clinfer.gateway")
audit_log = logging.getLogger("clinfer.gateway.audit")


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


class ConfigError(ValueError):
    """A setting is missing or unusable (the message names the variable, never a secret)."""


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration; ``from_env`` documents the environment variables."""

    jwt_hs256_key: Optional[bytes] = None
    jwt_rs256_public_key: Optional[str] = None
    jwt_audience: Optional[str] = None
    jwt_issuer: Optional[str] = None
    jwt_leeway_s: float = 0.0
    model_dir: str = str(DEFAULT_MODEL)
    device: str = "cpu"
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    queue_capacity: int = 1024
    default_deadline_ms: Optional[float] = None
    max_body_bytes: int = 1 << 20
    max_texts: int = 256
    drain_timeout_s: float = 10.0
    audit_log: str = "-"

    def __post_init__(self) -> None:
        if not self.jwt_hs256_key and not self.jwt_rs256_public_key:
            raise ConfigError(
                "CLINFER_JWT_HS256_KEY is required (or CLINFER_JWT_RS256_PUBLIC_KEY[_FILE])"
            )
        if self.jwt_hs256_key is not None and len(self.jwt_hs256_key) < 32:
            raise ConfigError("CLINFER_JWT_HS256_KEY must be at least 32 bytes (RFC 7518 3.2)")
        for name, value, low in (
            ("CLINFER_MAX_BATCH_SIZE", self.max_batch_size, 1),
            ("CLINFER_QUEUE_CAPACITY", self.queue_capacity, 1),
            ("CLINFER_MAX_BODY_BYTES", self.max_body_bytes, 1),
            ("CLINFER_MAX_TEXTS", self.max_texts, 1),
        ):
            if value < low:
                raise ConfigError(f"{name} must be at least {low}")
        for name, num in (
            ("CLINFER_MAX_WAIT_MS", self.max_wait_ms),
            ("CLINFER_DRAIN_TIMEOUT_S", self.drain_timeout_s),
            ("CLINFER_JWT_LEEWAY_S", self.jwt_leeway_s),
            ("CLINFER_DEFAULT_DEADLINE_MS", self.default_deadline_ms or 0.0),
        ):
            if not (math.isfinite(num) and num >= 0):
                raise ConfigError(f"{name} must be a finite number >= 0")

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """Reads the configuration from environment variables.

        - ``CLINFER_JWT_HS256_KEY``: HS256 secret, at least 32 bytes (required unless an RS256
          key is given).
        - ``CLINFER_JWT_RS256_PUBLIC_KEY`` (PEM text) or ``CLINFER_JWT_RS256_PUBLIC_KEY_FILE``
          (path to a PEM file): also accept RS256 tokens (needs ``cryptography``).
        - ``CLINFER_JWT_AUDIENCE``, ``CLINFER_JWT_ISSUER``: when set, ``aud`` / ``iss`` must
          match. ``CLINFER_JWT_LEEWAY_S``: clock skew allowed on ``exp`` (default 0).
        - ``CLINFER_MODEL_DIR`` (default: the bundled ``models/clinfer-demo-sst2``),
          ``CLINFER_DEVICE`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``; default ``cpu``).
        - ``CLINFER_MAX_BATCH_SIZE`` (32), ``CLINFER_MAX_WAIT_MS`` (5),
          ``CLINFER_QUEUE_CAPACITY`` (1024): the dynamic batcher.
        - ``CLINFER_DEFAULT_DEADLINE_MS``: deadline of every classification (a request's
          ``deadline_ms`` can only shorten it); unset: none.
        - ``CLINFER_MAX_BODY_BYTES`` (1048576): larger request bodies get 413.
        - ``CLINFER_MAX_TEXTS`` (256): most texts in one ``{"texts": [...]}`` request.
        - ``CLINFER_DRAIN_TIMEOUT_S`` (10): at shutdown, how long queued work may still run.
        - ``CLINFER_AUDIT_LOG``: a file to append audit lines to; unset or ``-``: stderr.
        """
        e = os.environ if env is None else env

        def get(name: str) -> Optional[str]:
            v = e.get(name)
            return v if v not in (None, "") else None

        def number(name: str, default: float) -> float:
            v = get(name)
            if v is None:
                return default
            try:
                return float(v)
            except ValueError:
                raise ConfigError(f"{name} must be a number") from None

        def integer(name: str, default: int) -> int:
            v = get(name)
            if v is None:
                return default
            try:
                return int(v)
            except ValueError:
                raise ConfigError(f"{name} must be an integer") from None

        hs = get("CLINFER_JWT_HS256_KEY")
        rs = get("CLINFER_JWT_RS256_PUBLIC_KEY")
        rs_file = get("CLINFER_JWT_RS256_PUBLIC_KEY_FILE")
        if rs is None and rs_file is not None:
            try:
                rs = Path(rs_file).read_text()
            except OSError as err:
                raise ConfigError(
                    f"CLINFER_JWT_RS256_PUBLIC_KEY_FILE cannot be read ({err.strerror})"
                ) from None
        deadline = get("CLINFER_DEFAULT_DEADLINE_MS")
        return cls(
            jwt_hs256_key=hs.encode() if hs is not None else None,
            jwt_rs256_public_key=rs,
            jwt_audience=get("CLINFER_JWT_AUDIENCE"),
            jwt_issuer=get("CLINFER_JWT_ISSUER"),
            jwt_leeway_s=number("CLINFER_JWT_LEEWAY_S", 0.0),
            model_dir=get("CLINFER_MODEL_DIR") or str(DEFAULT_MODEL),
            device=get("CLINFER_DEVICE") or "cpu",
            max_batch_size=integer("CLINFER_MAX_BATCH_SIZE", 32),
            max_wait_ms=number("CLINFER_MAX_WAIT_MS", 5.0),
            queue_capacity=integer("CLINFER_QUEUE_CAPACITY", 1024),
            default_deadline_ms=None
            if deadline is None
            else number("CLINFER_DEFAULT_DEADLINE_MS", 0.0),
            max_body_bytes=integer("CLINFER_MAX_BODY_BYTES", 1 << 20),
            max_texts=integer("CLINFER_MAX_TEXTS", 256),
            drain_timeout_s=number("CLINFER_DRAIN_TIMEOUT_S", 10.0),
            audit_log=get("CLINFER_AUDIT_LOG") or "-",
        )

    def __repr__(self) -> str:  # never print the secret
        return (
            f"Settings(model_dir={self.model_dir!r}, device={self.device!r}, "
            f"max_batch_size={self.max_batch_size}, max_wait_ms={self.max_wait_ms}, "
            f"queue_capacity={self.queue_capacity}, max_body_bytes={self.max_body_bytes}, "
            f"hs256={'on' if self.jwt_hs256_key else 'off'}, "
            f"rs256={'on' if self.jwt_rs256_public_key else 'off'})"
        )


# ---------------------------------------------------------------------------------------------
# What the gateway needs from clinfer (clinfer.Pipeline satisfies it; tests pass fakes)
# ---------------------------------------------------------------------------------------------


class ClassificationLike(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def logits(self) -> List[float]: ...
    @property
    def redacted(self) -> Optional[str]: ...
    @property
    def phi_counts(self) -> Dict[str, int]: ...
    @property
    def tokens(self) -> int: ...
    @property
    def total_s(self) -> float: ...


class PipelineLike(Protocol):
    async def classify(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> ClassificationLike: ...

    async def classify_many(
        self, texts: Sequence[str], *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> Sequence[ClassificationLike]: ...

    def metrics(self) -> str: ...

    def is_ready(self) -> bool: ...

    def close(self, drain_timeout_s: float = 5.0) -> bool: ...


PipelineFactory = Callable[[Settings], PipelineLike]


def default_pipeline(settings: Settings) -> PipelineLike:
    """A real clinfer.Pipeline with PHI scrubbing on."""
    return clinfer.Pipeline(
        settings.model_dir,
        scrub=True,
        device=settings.device,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        queue_capacity=settings.queue_capacity,
    )


# ---------------------------------------------------------------------------------------------
# Request and response bodies
# ---------------------------------------------------------------------------------------------


class ClassifyRequest(BaseModel):
    """Exactly one of ``text`` or ``texts``."""

    model_config = ConfigDict(extra="forbid")

    text: Optional[str] = Field(None, min_length=1, description="One clinical note.")
    texts: Optional[List[str]] = Field(
        None, min_length=1, description="Several notes, classified together (input order)."
    )
    deadline_ms: Optional[float] = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Give up (504) if the model has not served the request within this time.",
    )
    priority: int = Field(1, ge=0, le=2, description="0 high, 1 normal, 2 low.")

    @model_validator(mode="after")
    def _one_of(self) -> "ClassifyRequest":
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        if self.texts is not None and any(not t for t in self.texts):
            raise ValueError("'texts' must not contain empty strings")
        return self


class ClassifyResult(BaseModel):
    label: str = Field(description="The predicted label.")
    score: float = Field(description="Probability of the predicted label.")
    logits: List[float]
    redacted: Optional[str] = Field(description="The de-identified text the model saw.")
    phi_counts: Dict[str, int] = Field(description="PHI entities replaced, per kind.")
    tokens: int = Field(description="Tokens the model saw.")
    total_ms: float = Field(description="Time inside clinfer (scrub, queue, model).")


class ClassifyBatchResult(BaseModel):
    results: List[ClassifyResult]


class DeidentifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="One clinical note.")


class SpanOut(BaseModel):
    start: int = Field(description="Offset of the first character (Python str offsets).")
    end: int = Field(description="Offset one past the last character.")
    kind: str = Field(description="The kind of PHI, e.g. NAME, DATE, MRN.")


class DeidentifyResult(BaseModel):
    text: str = Field(description="The note with each PHI span replaced by a tag like [NAME].")
    spans: List[SpanOut] = Field(description="The PHI found, offsets into the input.")


class ErrorBody(BaseModel):
    error: str = Field(description="A stable error kind, e.g. overloaded, invalid_input.")
    detail: str = Field(description="A human-readable message; it never quotes the input.")


class Status(BaseModel):
    status: str


def _errors(*codes: int) -> Dict[Union[int, str], Dict[str, Any]]:
    text = {
        401: "Missing, invalid or expired bearer token",
        403: "The token lacks the required scope",
        413: "Request body too large",
        422: "Invalid request or input",
        429: "Queue full; retry after Retry-After seconds",
        500: "Internal error",
        503: "Shutting down",
        504: "Deadline exceeded",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


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
    """Maps a clinfer exception to (status, kind, extra headers)."""
    if isinstance(exc, clinfer.Overloaded):
        retry = getattr(exc, "retry_after", 1.0)
        try:
            secs = math.ceil(float(retry)) if math.isfinite(float(retry)) else 1
        except (TypeError, ValueError):
            secs = 1
        return 429, "overloaded", {"Retry-After": str(max(1, secs))}
    if isinstance(exc, clinfer.DeadlineExceeded):
        return 504, "deadline_exceeded", {}
    if isinstance(exc, clinfer.InvalidInput):
        return 422, "invalid_input", {}
    if isinstance(exc, clinfer.ShuttingDown):
        return 503, "shutting_down", {}
    if isinstance(exc, clinfer.ModelLoadError):
        return 500, "model_load", {}
    return 500, "internal", {}


def error_response(
    status: int, kind: str, detail: str, headers: Optional[Mapping[str, str]] = None
) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


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


# ---------------------------------------------------------------------------------------------
# Authentication: OAuth2 bearer JWT (HS256, optionally RS256)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    sub: Optional[str]
    scopes: Set[str]


class TokenVerifier:
    """Validates signature, ``exp`` (required) and optionally ``aud``/``iss``; each algorithm
    only with its own key, so an RS256 public key can never serve as an HS256 secret."""

    def __init__(self, settings: Settings) -> None:
        self._keys: Dict[str, Any] = {}
        if settings.jwt_hs256_key:
            self._keys["HS256"] = settings.jwt_hs256_key
        if settings.jwt_rs256_public_key:
            try:
                from jwt.algorithms import RSAAlgorithm

                self._keys["RS256"] = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(
                    settings.jwt_rs256_public_key
                )
            except ImportError:
                raise ConfigError(
                    "an RS256 key needs the cryptography package (pip install 'PyJWT[crypto]')"
                ) from None
            except (ValueError, TypeError, jwt.InvalidKeyError):
                raise ConfigError("the RS256 public key is not a usable PEM RSA key") from None
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_s

    def verify(self, token: str) -> Dict[str, Any]:
        """Returns the claims; raises ``jwt.PyJWTError`` for any invalid token."""
        alg = jwt.get_unverified_header(token).get("alg")
        if not isinstance(alg, str) or alg not in self._keys:
            raise jwt.InvalidAlgorithmError("unsupported algorithm")
        key = self._keys[alg]
        required = ["exp"]
        if self._audience is not None:
            required.append("aud")
        if self._issuer is not None:
            required.append("iss")
        claims: Dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": required, "verify_aud": self._audience is not None},
        )
        return claims


def token_scopes(claims: Mapping[str, Any]) -> Set[str]:
    """Scopes from ``scope`` (space-separated string) and/or ``scopes`` (list or string)."""
    out: Set[str] = set()
    for name in ("scope", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            out.update(value.split())
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return out


bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="bearerJWT",
    description="An OAuth2 access token (JWT, HS256 or RS256) with an `exp` claim and the "
    "scopes `classify` (for /v1/classify) or `deidentify` (for /v1/deidentify) in its "
    "`scope` (space-separated) or `scopes` claim.",
)


@dataclass
class AuditRecord:
    """What the audit line of one request says. Handlers fill ``sub``, ``phi_counts``,
    ``texts`` and ``error``; there is deliberately no field that could hold text."""

    request_id: str
    sub: Optional[str] = None
    phi_counts: Dict[str, int] = field(default_factory=dict)
    texts: int = 0
    error: Optional[str] = None


def audit_record(request: Request) -> AuditRecord:
    rec = request.scope.get(SCOPE_KEY)
    if isinstance(rec, AuditRecord):
        return rec
    rec = AuditRecord(request_id=str(uuid.uuid4()))
    request.scope[SCOPE_KEY] = rec
    return rec


def route_label(path: str) -> str:
    return path if path in KNOWN_ROUTES else "other"


class HttpMetrics:
    """HTTP metrics in their own registry (so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clinfer_gateway_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clinfer_gateway_http_request_duration_seconds",
            "HTTP request latency by route and method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "clinfer_gateway_http_requests_in_flight",
            "HTTP requests being served, by route",
            ["route"],
            registry=self.registry,
        )

    def render(self) -> str:
        text: bytes = generate_latest(self.registry)  # type: ignore[no-untyped-call]
        return text.decode("utf-8")


class Gateway:
    """The state shared by the routes: settings, pipeline, scrubber, verifier, metrics."""

    def __init__(self, settings: Settings, pipeline_factory: PipelineFactory) -> None:
        self.settings = settings
        self.pipeline_factory = pipeline_factory
        self.verifier = TokenVerifier(settings)
        self.metrics = HttpMetrics()
        self.pipeline: Optional[PipelineLike] = None
        self.scrubber: Optional[clinfer.Scrubber] = None
        self.draining = False
        self._audit_handler: Optional[logging.Handler] = None

    def open_audit(self) -> None:
        if self.settings.audit_log == "-":
            handler: logging.Handler = logging.StreamHandler(sys.stderr)
        else:
            handler = logging.FileHandler(self.settings.audit_log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        audit_log.addHandler(handler)
        audit_log.setLevel(logging.INFO)
        audit_log.propagate = False
        self._audit_handler = handler

    def close_audit(self) -> None:
        if self._audit_handler is not None:
            audit_log.removeHandler(self._audit_handler)
            self._audit_handler.close()
            self._audit_handler = None

    def audit(
        self, record: AuditRecord, method: str, route: str, status: int, elapsed_s: float
    ) -> None:
        line = {
            "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "request_id": record.request_id,
            "sub": record.sub,
            "method": method,
            "route": route,
            "status": status,
            "texts": record.texts,
            "phi_counts": record.phi_counts,
            "error": record.error,
            "latency_ms": round(elapsed_s * 1e3, 3),
        }
        audit_log.info(json.dumps(line, sort_keys=False))

    def deadline(self, requested: Optional[float]) -> Optional[float]:
        default = self.settings.default_deadline_ms
        if requested is None:
            return default
        return requested if default is None else min(requested, default)

    def live_pipeline(self) -> PipelineLike:
        if self.pipeline is None or self.draining:
            raise clinfer.ShuttingDown("the pipeline is not running")
        return self.pipeline


def get_gateway(request: Request) -> Gateway:
    gw = getattr(request.app.state, "gateway", None)
    if not isinstance(gw, Gateway):
        raise ApiError(503, "unavailable", "the gateway is not started")
    return gw


async def authenticate(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Optional[HTTPAuthorizationCredentials] = Security(bearer_scheme),
    gw: Gateway = Depends(get_gateway),
) -> Principal:
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    try:
        claims = gw.verifier.verify(credentials.credentials)
    except jwt.ExpiredSignatureError:
        raise ApiError(
            401,
            "unauthorized",
            "token expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
        ) from None
    except jwt.PyJWTError:
        raise ApiError(
            401,
            "unauthorized",
            "invalid token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    sub = claims.get("sub")
    principal = Principal(sub=sub if isinstance(sub, str) else None, scopes=token_scopes(claims))
    audit_record(request).sub = principal.sub
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        challenge = f'Bearer error="insufficient_scope", scope="{security_scopes.scope_str}"'
        raise ApiError(
            403,
            "forbidden",
            f"the token lacks the scope {' '.join(missing)!r}",
            {"WWW-Authenticate": challenge},
        )
    return principal


# ---------------------------------------------------------------------------------------------
# Audit log, HTTP metrics, body limit: one pure ASGI middleware
# ---------------------------------------------------------------------------------------------


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
        route = route_label(scope.get("path", ""))
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

        metrics.in_flight.labels(route).inc()
        try:
            body = await self._read_body(scope, receive)
            if body is None:
                record.error = "payload_too_large"
                limit = self.gw.settings.max_body_bytes
                detail = f"the request body exceeds {limit} bytes"
                await _send_json(send_wrapper, 413, {"error": record.error, "detail": detail})
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
                await _send_json(
                    send_wrapper, 500, {"error": "internal", "detail": "internal error"}
                )
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


class _AccessLogFilter(logging.Filter):
    """Rewrites uvicorn's access-log path: query strings dropped, unknown paths shown as
    ``<other>`` (a client could put anything in a URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (args[0], args[1], path if path in KNOWN_ROUTES else "<other>") + tuple(
                args[3:]
            )
        return True


def _install_access_log_filter() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessLogFilter) for f in access.filters):
        access.addFilter(_AccessLogFilter())


def _ensure_ops_logging() -> None:
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


# ---------------------------------------------------------------------------------------------
# The gateway and its routes
# ---------------------------------------------------------------------------------------------


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
    responses=_errors(401, 403, 413, 422, 429, 500, 503, 504),
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
    responses=_errors(401, 403, 413, 422, 500, 503),
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
    parts: List[str] = []
    if gw.pipeline is not None:
        # clinfer's text is OpenMetrics too; drop its "# EOF" so that there is only one, last.
        text = gw.pipeline.metrics().rstrip()
        if text.endswith("# EOF"):
            text = text[: -len("# EOF")].rstrip()
        if text:
            parts.append(text + "\n")
    parts.append(gw.metrics.render())
    body = "".join(parts)
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
    _ensure_ops_logging()
    _install_access_log_filter()

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
    app.add_exception_handler(clinfer.ClinferError, _on_clinfer_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
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
