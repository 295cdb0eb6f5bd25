"""The gateway's HTTP metrics (prometheus_client) and the ``/metrics`` document that puts them
after clinfer's own families."""

from typing import List, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.openmetrics.exposition import generate_latest


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


def openmetrics_document(clinfer_text: Optional[str], http: HttpMetrics) -> str:
    """clinfer's metrics text (when there is a pipeline), then the gateway's HTTP metrics, as
    one OpenMetrics document."""
    parts: List[str] = []
    if clinfer_text is not None:
        # clinfer's text is OpenMetrics too; drop its "# EOF" so that there is only one, last.
        text = clinfer_text.rstrip()
        if text.endswith("# EOF"):
            text = text[: -len("# EOF")].rstrip()
        if text:
            parts.append(text + "\n")
    parts.append(http.render())
    return "".join(parts)
