"""``Gateway``: the state shared by the routes and the middleware (settings, models,
scrubber, token verifier, metrics)."""

import asyncio
import logging
from asyncio import current_task
from typing import Any, MutableMapping, Optional, Set

from fastapi import Request

import clinfer

from .audit import AuditRecord, close_audit_handler, open_audit_handler, write_audit_line
from .auth import TokenVerifier
from .errors import ApiError
from .metrics import HttpMetrics
from .models import ModelManager, PipelineFactory
from .settings import Settings


ACCEPTED_KEY = "clinfer.accepted"


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
        # The request tasks alive when the drain began: they were accepted and run to the end.
        self.accepted_at_drain: Optional[Set["asyncio.Task[Any]"]] = None
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

    def begin_drain(self, accepted: Set["asyncio.Task[Any]"]) -> None:
        """Turns the gateway unready. ``accepted`` are the request tasks alive now: they were
        accepted before the drain (some may still be reading their body) and finish normally;
        only requests that arrive later are refused."""
        self.accepted_at_drain = set(accepted)
        self.draining = True

    def mark_arrival(self, scope: MutableMapping[str, Any]) -> None:
        """Called by the middleware when a request starts: notes whether it arrived before the
        drain (its task was already running then) so that the drain never refuses it."""
        late = self.draining and (
            self.accepted_at_drain is None or current_task() not in self.accepted_at_drain
        )
        scope[ACCEPTED_KEY] = not late

    def live(self, scope: Optional[MutableMapping[str, Any]] = None) -> None:
        """Raises ShuttingDown for a request that arrived once the gateway drains (all of them
        when ``scope`` is None, as for gRPC, whose server drains on its own)."""
        if self.draining and not (scope is not None and scope.get(ACCEPTED_KEY) is True):
            raise clinfer.ShuttingDown("the gateway is shutting down")

    def live_scrubber(self, scope: Optional[MutableMapping[str, Any]] = None) -> clinfer.Scrubber:
        self.live(scope)
        if self.scrubber is None:
            raise clinfer.ShuttingDown("the gateway is shutting down")
        return self.scrubber

    def is_ready(self) -> bool:
        return not self.draining and self.scrubber is not None and self.models.is_ready()


def get_gateway(request: Request) -> Gateway:
    gw = getattr(request.app.state, "gateway", None)
    if not isinstance(gw, Gateway):
        raise ApiError(503, "unavailable", "the gateway is not started")
    return gw
