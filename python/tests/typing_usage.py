"""Typed usage of the public API, checked with ``mypy --strict`` (not collected by pytest)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Optional

import clinfer


def scrub(text: str) -> tuple[str, list[tuple[int, int, str, float]]]:
    s = clinfer.Scrubber(allow=["Tylenol"], deny={"NAME": ["Zorblax"]})
    spans = [(sp.start, sp.end, sp.kind, sp.score) for sp in s.analyze(text)]
    red: clinfer.Redaction = s.redact(text, {"default": "tag", "DATE": "year_only"})
    return red.text, spans


def predict(model: str, texts: list[str]) -> list[tuple[str, float, list[float]]]:
    c = clinfer.Classifier(model, device="cpu", max_length=128)
    return [(p.label, p.score, p.logits) for p in c.predict(texts)]


async def serve(model: str) -> Optional[str]:
    with clinfer.Pipeline(model, scrub=True, max_batch_size=8, max_wait_ms=2) as pipe:
        try:
            one: clinfer.Classification = await pipe.classify("x", deadline_ms=50, priority=0)
        except clinfer.Overloaded as e:
            retry: float = e.retry_after
            return str(retry)
        except (clinfer.DeadlineExceeded, clinfer.ShuttingDown, clinfer.InvalidInput):
            return None
        many = await pipe.classify_many(["a", "b"])
        counts: dict[str, int] = one.phi_counts
        blocking = pipe.classify_blocking("y")
        ready: bool = pipe.is_ready()
        metrics: str = pipe.metrics()
        drained: bool = pipe.close(drain_timeout_s=1.0)
        return f"{one.redacted}{len(many)}{counts}{blocking.label}{ready}{metrics}{drained}"


def drift(model: str, reference: Path) -> float:
    with clinfer.Pipeline(
        model, drift=True, drift_reference_size=100, drift_window=100, drift_reference=reference
    ) as pipe:
        fitted: int = pipe.fit_drift_reference(["a", "b"])
        pipe.save_drift_reference(str(reference))
        report: Optional[clinfer.DriftReport] = pipe.drift()
        if report is None:
            return float(fitted)
        state: str = report.state
        n: int = report.requests + report.reference_requests + report.observed
        sig: clinfer.DriftSignal = report.signals["label"]
        value: float = sig.value + sig.warn + sig.alert
        rate: Optional[float] = sig.current
        ks: float = clinfer.drift_ks([1, 2], [2, 1]) + clinfer.drift_psi([1, 2], [2, 1])
        return value + n + len(state) + (rate or 0.0) + ks + sig.details.get("ks", 0.0)


if __name__ == "__main__":
    print(asyncio.run(serve("model")))
