"""What the gateway needs from clinfer (``PipelineLike``: clinfer.Pipeline satisfies it; tests
pass fakes) and ``Gateway``, the state shared by the routes and the middleware."""

import logging
from typing import Callable, Dict, List, Optional, Protocol, Sequence

from fastapi import Request

import clinfer
from audit import AuditRecord, close_audit_handler, open_audit_handler, write_audit_line
from auth import TokenVerifier
from errors import ApiError
from metrics import HttpMetrics
from settings import Settings


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

    def live_pipeline(self) -> PipelineLike:
        if self.pipeline is None or self.draining:
            raise clinfer.ShuttingDown("the pipeline is not running")
        return self.pipeline


def get_gateway(request: Request) -> Gateway:
    gw = getattr(request.app.state, "gateway", None)
    if not isinstance(gw, Gateway):
        raise ApiError(503, "unavailable", "the gateway is not started")
    return gw
