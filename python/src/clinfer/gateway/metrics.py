"""The gateway's metrics (prometheus_client): HTTP requests, model loads, and every serving
pipeline's own metrics with ``model`` and ``version`` labels, merged so that each metric
family appears once however many models and versions serve. One registry; ``/metrics`` and
the separate metrics port (``--metrics-port``) expose it."""

from typing import Callable, Dict, Iterable, Iterator, List, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

#: (model, version, the pipeline's metrics text) for each serving version.
PipelineTexts = Callable[[], Iterable[Tuple[str, str, str]]]


class PipelinesCollector:
    """Collects the serving pipelines' metrics on each scrape, labelled by model and version.
    A pipeline whose text cannot be parsed is skipped (and counted), never the whole scrape."""

    def __init__(self, source: PipelineTexts, errors: Counter) -> None:
        self._source = source
        self._errors = errors

    def collect(self) -> Iterator[Metric]:
        families: Dict[str, Metric] = {}
        for model, version, text in self._source():
            try:
                parsed = list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]
            except Exception:  # noqa: BLE001 - a malformed exposition must not break scrapes
                self._errors.inc()
                continue
            for fam in parsed:
                merged = families.get(fam.name)
                if merged is None:
                    merged = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                    families[fam.name] = merged
                elif merged.type != fam.type:
                    self._errors.inc()
                    continue
                for s in fam.samples:
                    labels = dict(s.labels)
                    labels.setdefault("model", model)
                    labels.setdefault("version", version)
                    merged.add_sample(s.name, labels, s.value, s.timestamp, s.exemplar)
        yield from families.values()

    def describe(self) -> List[Metric]:
        return []  # families depend on what serves; collect() on every scrape


class HttpMetrics:
    """The gateway's registry: HTTP metrics, model loads, and (once ``attach_pipelines`` is
    called) the pipelines' metrics. Its own registry, so several apps can live in one process."""

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
        self.model_loads = Counter(
            "clinfer_gateway_model_loads",
            "Model version loads by outcome (ok, failed); version is empty for settings errors",
            ["model", "version", "outcome"],
            registry=self.registry,
        )
        self.versions_serving = Gauge(
            "clinfer_gateway_model_versions_serving",
            "Versions of each model serving traffic",
            ["model"],
            registry=self.registry,
        )
        self.scrape_errors = Counter(
            "clinfer_gateway_metrics_collect_errors",
            "Pipeline metrics that could not be merged into a scrape",
            registry=self.registry,
        )

    def attach_pipelines(self, source: PipelineTexts) -> None:
        self.registry.register(PipelinesCollector(source, self.scrape_errors))

    def render(self) -> str:
        text: bytes = generate_latest(self.registry)  # type: ignore[no-untyped-call]
        return text.decode("utf-8")
