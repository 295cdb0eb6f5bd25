"""clinfer on Ray Serve: one ``clinfer.Pipeline`` per replica, serving clinfer's ``/v1`` routes.

    pip install ./python "ray[serve]"
    serve run --app-dir python/examples/ray_serve clinfer_serve:app_builder \
        model="$PWD/models/clinfer-demo-sst2"
    # or: python python/examples/ray_serve/clinfer_serve.py --model models/clinfer-demo-sst2

Each replica loads the model once, in ``__init__``, and keeps it for its life. No
``@serve.batch``: clinfer's own dynamic batcher merges the concurrent requests a replica holds
into model batches (up to ``max_batch_size`` rows, waiting at most ``max_wait_ms``), so the
replica must be allowed to hold at least a batch's worth of requests (``max_ongoing_requests``).
Serve scales replicas on the requests each one holds (``autoscaling_config``
``target_ongoing_requests``): the same leading signal as the Kubernetes HPA's queue depth, seen
from the router.

Routes (JSON, as the gateway's ``/v1``, without its JWT layer: put Serve behind your own auth):
``POST /v1/classify`` ``{"text": ...}`` or ``{"texts": [...]}``, ``GET /v1/health``,
``GET /v1/metrics`` (the replica's pipeline metrics, Prometheus text).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any, Dict, List, Optional

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from ray import serve

import clinfer

#: The scaling policy: 1..4 replicas, one more when replicas hold over 16 requests each.
AUTOSCALING: Dict[str, Any] = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 16,
    "upscale_delay_s": 10,
    "downscale_delay_s": 60,
}

api = FastAPI(title="clinfer on Ray Serve")


class ClassifyRequest(BaseModel):
    text: Optional[str] = None
    texts: Optional[List[str]] = Field(default=None, max_length=256)
    deadline_ms: Optional[float] = Field(default=None, gt=0)
    priority: int = Field(default=1, ge=0, le=2)


def _result(c: "clinfer.Classification") -> Dict[str, Any]:
    return {
        "label": c.label,
        "score": c.score,
        "logits": list(c.logits),
        "redacted": c.redacted,
        "phi_counts": dict(c.phi_counts),
        "tokens": c.tokens,
    }


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"kind": kind, "message": message}}, status_code=status)


class ClinferReplica:
    """One replica: a ``clinfer.Pipeline`` (PHI scrub -> tokenize -> batch -> DistilBERT).
    A plain class (usable and testable without Ray); ``ClinferClassifier`` below is it as a
    Serve deployment."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        scrub: bool = True,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        queue_capacity: int = 1024,
        warmup_timeout_s: float = 300.0,
    ) -> None:
        self.pipeline = clinfer.Pipeline(
            model,
            scrub=scrub,
            device=device,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            queue_capacity=queue_capacity,
            name=os.path.basename(os.path.normpath(model)),
            version="1",
        )
        deadline = time.monotonic() + warmup_timeout_s
        while not self.pipeline.is_ready():  # the replica is not routed to before this returns
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pipeline was not ready in {warmup_timeout_s} s")
            time.sleep(0.05)

    @api.post("/v1/classify")
    async def classify(self, body: ClassifyRequest) -> Any:
        if (body.text is None) == (body.texts is None):
            return _error(422, "invalid_request", "give exactly one of text and texts")
        try:
            if body.text is not None:
                one = await self.pipeline.classify(
                    body.text, deadline_ms=body.deadline_ms, priority=body.priority
                )
                return _result(one)
            many = await self.pipeline.classify_many(
                body.texts or [], deadline_ms=body.deadline_ms, priority=body.priority
            )
            return {"results": [_result(c) for c in many]}
        except clinfer.ClinferError as e:  # the messages never quote the input
            status = getattr(e, "http_status", 500)
            return _error(status if isinstance(status, int) else 500,
                          str(getattr(e, "kind", "internal")), str(e))

    @api.get("/v1/health")
    async def health(self) -> Any:
        if self.pipeline.is_ready():
            return {"status": "ready"}
        return _error(503, "not_ready", "warming up or draining")

    @api.get("/v1/metrics")
    async def metrics(self) -> PlainTextResponse:
        return PlainTextResponse(self.pipeline.metrics())

    def check_health(self) -> None:
        """Serve's own health check: a replica whose pipeline stopped is replaced."""
        if not self.pipeline.is_ready():
            raise RuntimeError("the pipeline is not accepting work")

    def __del__(self) -> None:
        pipeline = getattr(self, "pipeline", None)
        if pipeline is not None:
            pipeline.close(drain_timeout_s=10.0)  # serve what is still queued


ClinferClassifier = serve.deployment(
    name="ClinferClassifier",
    # > max_batch_size: a replica must hold a full batch for the batcher to fill it
    max_ongoing_requests=64,
    autoscaling_config=AUTOSCALING,
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=5,
    # Serve stops routing to a replica, waits for its ongoing requests, then kills it.
    graceful_shutdown_timeout_s=20,
)(serve.ingress(api)(ClinferReplica))


def app_builder(args: Dict[str, str]) -> serve.Application:
    """``serve run clinfer_serve:app_builder model=DIR [device=cuda] [max_batch_size=N]
    [max_wait_ms=MS]``: the application, with one GPU per replica when device is cuda."""
    kwargs: Dict[str, Any] = {}
    if "device" in args:
        kwargs["device"] = args["device"]
    if "max_batch_size" in args:
        kwargs["max_batch_size"] = int(args["max_batch_size"])
    if "max_wait_ms" in args:
        kwargs["max_wait_ms"] = float(args["max_wait_ms"])
    options: Dict[str, Any] = {}
    if args.get("device", "cpu").startswith("cuda"):
        options["ray_actor_options"] = {"num_cpus": 1, "num_gpus": 1}
    deployment = ClinferClassifier.options(**options) if options else ClinferClassifier
    return deployment.bind(args["model"], **kwargs)



async def _demo(url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        texts = ["a warm , funny and moving film", "a tedious , joyless mess"] * 8
        rs = await asyncio.gather(*(c.post("/v1/classify", json={"text": t}) for t in texts))
        for t, r in zip(texts[:2], rs[:2]):
            print(t, "->", r.json()["label"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8000)
    a = parser.parse_args()
    serve.start(http_options={"host": "127.0.0.1", "port": a.port})
    serve.run(app_builder({"model": os.path.abspath(a.model)}), name="clinfer", route_prefix="/")
    asyncio.run(_demo(f"http://127.0.0.1:{a.port}"))
    serve.shutdown()
