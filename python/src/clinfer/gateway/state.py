"""``Gateway``: the state shared by the routes and the middleware (settings, models,
scrubber, token verifier, metrics)."""

import logging
from typing import Optional

from fastapi import Request

import clinfer

from .audit import AuditRecord, close_audit_handler, open_audit_handler, write_audit_line
from .auth import TokenVerifier
from .errors import ApiError
from .metrics import HttpMetrics
from .models import ModelManager, PipelineFactory
from .settings import Settings


class Gateway:
    """The state shared by the routes: settings, models, scrubber, verifier, metrics."""

    def __init__(self, settings: Settings, pipeline_factory: PipelineFactory) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings)
        self.metrics = HttpMetrics()
        self.models = ModelManager(settings, pipeline_factory, self.metrics)
        self.metrics.attach_pipelines(
            lambda: [
                (sv.name, str(sv.version), sv.pipeline.metrics()) for sv in self.models.serving()
            ]
        )
        self.scrubber: Optional[clinfer.Scrubber] = None
        self.draining = False
        self._audit_handler: Optional[logging.Handler] = None

    def open_audit(self) -> None:
        self._audit_handler = open_audit_handler(self.settings.audit_log)

    def close_audit(self) -> None:
        if self._audit_handler is not None:
            close_audit_handler(self._audit_handler)
            self._audit_handler = None

    def audit(
        self, record: AuditRecord, method: str, route: str, status: int, elapsed_s: float
    ) -> None:
        write_audit_line(record, method, route, status, elapsed_s)

    def deadline(self, requested: Optional[float]) -> Optional[float]:
        default = self.settings.default_deadline_ms
        if requested is None:
            return default
        return requested if default is None else min(requested, default)

    def live(self) -> None:
        """Raises ShuttingDown once the gateway drains."""
        if self.draining:
            raise clinfer.ShuttingDown("the gateway is shutting down")

    def live_scrubber(self) -> clinfer.Scrubber:
        if self.scrubber is None or self.draining:
            raise clinfer.ShuttingDown("the gateway is shutting down")
        return self.scrubber

    def is_ready(self) -> bool:
        return not self.draining and self.scrubber is not None and self.models.is_ready()


def get_gateway(request: Request) -> Gateway:
    gw = getattr(request.app.state, "gateway", None)
    if not isinstance(gw, Gateway):
        raise ApiError(503, "unavailable", "the gateway is not started")
    return gw
