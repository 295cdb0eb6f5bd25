"""Logging: the audit log (one JSON line per request, never any request text), the gateway's own
logger, and the filter on uvicorn's access log (known routes only, no query strings)."""

import datetime
import json
import logging
import re
import sys
import uuid
from dataclasses import dataclass, field
from typing import Dict, Optional

from fastapi import Request

#: Routes this app serves; anything else is reported as "other" in metrics, audit and access log.
#: HTTP methods shown as they are; anything else (a client may send any token as a method) is
#: shown as "<other>" in the access log and "other" in metrics and audit.
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

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
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/repository/index",
    }
)
#: Open Inference Protocol routes with a model name (or version) in the path: labelled by
#: their template, never by the name the client put there.
_TEMPLATES = [
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$"), "/v2/models/{name}/infer"),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/ready$"), "/v2/models/{name}/ready"),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/config$"), "/v2/models/{name}/config"),
    (re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?$"), "/v2/models/{name}"),
    (re.compile(r"^/v2/repository/models/[^/]+/load$"), "/v2/repository/models/{name}/load"),
    (re.compile(r"^/v2/repository/models/[^/]+/unload$"), "/v2/repository/models/{name}/unload"),
]
#: Probes and scrapes are counted in the HTTP metrics but not written to the audit log.
UNAUDITED_ROUTES = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"}
)
SCOPE_KEY = "clinfer.audit"  # where the middleware leaves the request's AuditRecord in the scope

log = logging.getLogger("clinfer.gateway")
audit_log = logging.getLogger("clinfer.gateway.audit")


@dataclass
class AuditRecord:
    """What the audit line of one request says. Handlers fill ``sub``, ``phi_counts``,
    ``texts`` and ``error``; there is deliberately no field that could hold text."""

    request_id: str
    sub: Optional[str] = None
    phi_counts: Dict[str, int] = field(default_factory=dict)
    texts: int = 0
    error: Optional[str] = None
    model: Optional[str] = None
    version: Optional[str] = None


def audit_record(request: Request) -> AuditRecord:
    rec = request.scope.get(SCOPE_KEY)
    if isinstance(rec, AuditRecord):
        return rec
    rec = AuditRecord(request_id=str(uuid.uuid4()))
    request.scope[SCOPE_KEY] = rec
    return rec


def route_label(path: str) -> str:
    """The path as metrics, audit and access log show it: a known route, a ``/v2`` template
    (``/v2/models/{name}/infer``), or ``other``."""
    if path in KNOWN_ROUTES:
        return path
    if path.startswith("/v2/") and len(path) < 400:
        for pattern, template in _TEMPLATES:
            if pattern.match(path):
                return template
    return "other"


def open_audit_handler(destination: str) -> logging.Handler:
    """Sends the audit lines to ``destination`` (a file to append to, or ``-``: stderr)."""
    if destination == "-":
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.FileHandler(destination, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_log.addHandler(handler)
    audit_log.setLevel(logging.INFO)
    audit_log.propagate = False
    return handler


def close_audit_handler(handler: logging.Handler) -> None:
    audit_log.removeHandler(handler)
    handler.close()


def write_audit_line(
    record: AuditRecord, method: str, route: str, status: int, elapsed_s: float
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
        "model": record.model,
        "version": record.version,
        "latency_ms": round(elapsed_s * 1e3, 3),
    }
    audit_log.info(json.dumps(line, sort_keys=False))


class AccessLogFilter(logging.Filter):
    """Rewrites uvicorn's access-log line: query strings dropped, unknown paths and unknown
    methods shown as ``<other>`` (a client could put anything in a URL or a method)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            method = args[1] if args[1] in KNOWN_METHODS else "<other>"
            path = args[2].split("?", 1)[0] if isinstance(args[2], str) else ""
            label = route_label(path)
            record.args = (args[0], method, label if label != "other" else "<other>") + tuple(
                args[3:]
            )
        elif isinstance(args, tuple):
            # an access line of another shape: keep nothing the client chose
            record.args = tuple("<other>" for _ in args)
        return True


def install_access_log_filter() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogFilter) for f in access.filters):
        access.addFilter(AccessLogFilter())


def ensure_ops_logging() -> None:
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
