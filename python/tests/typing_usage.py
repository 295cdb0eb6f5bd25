"""Typed usage of the public API, checked with ``mypy --strict`` (not collected by pytest)."""

from __future__ import annotations

import asyncio
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


if __name__ == "__main__":
    print(asyncio.run(serve("model")))
