"""python/examples/ray_serve/clinfer_serve.py: clinfer.Pipeline per Ray Serve replica.

- the replica class itself (``ClinferReplica``, what ``ClinferClassifier.func_or_class`` wraps),
  without Ray: the /v1 routes' answers and errors, health, metrics, close;
- the deployment on a local Ray cluster: concurrent requests through Serve's HTTP proxy all
  answer; under load the autoscaler adds a replica, and removes it when the load stops (both
  waited for with generous bounds, never timed); Serve and Ray shut down cleanly.

``ray[serve]`` is required under CI (a missing package fails); when Ray is installed but cannot
start on the machine, the Serve test is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "python" / "examples" / "ray_serve"
IN_CI = os.environ.get("CI") in ("true", "1")
SENTENCES = ["a warm , funny and moving film", "a tedious , joyless mess"]

# Ray and its pydantic models warn at import and at start-up (deprecations it owns).
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            importlib.import_module("ray.serve")
        except ImportError as e:
            if IN_CI:
                pytest.fail(f"ray[serve] is not installed ({e}); CI installs it")
            pytest.skip(f"ray[serve] is not installed ({e})")
        sys.path.insert(0, str(EXAMPLE_DIR))
        try:
            return importlib.import_module("clinfer_serve")
        finally:
            sys.path.remove(str(EXAMPLE_DIR))


def test_replica_class_without_ray(example: ModuleType, model_dir: str) -> None:
    # the deployment serves the plain class's routes (Serve wraps it for the ASGI ingress)
    assert issubclass(example.ClinferClassifier.func_or_class, example.ClinferReplica)
    replica = example.ClinferReplica(model_dir, max_batch_size=8, max_wait_ms=2)
    req = example.ClassifyRequest

    async def main() -> list[Any]:
        return list(await asyncio.gather(
            replica.classify(req(text=SENTENCES[0])),
            replica.classify(req(texts=SENTENCES)),
            replica.classify(req(text="x", texts=["y"])),
            replica.classify(req(text="x", deadline_ms=0.000001)),
            replica.health(),
            replica.metrics(),
        ))

    one, many, both, late, health, metrics = asyncio.run(main())
    assert one["label"] in ("POSITIVE", "NEGATIVE") and len(one["logits"]) == 2
    assert [r["label"] for r in many["results"]] == ["POSITIVE", "NEGATIVE"]
    assert both.status_code == 422
    assert json.loads(both.body)["error"]["kind"] == "invalid_request"
    # an error from clinfer keeps its kind and status (a 1 ns deadline has passed)
    assert late.status_code == 504
    assert json.loads(late.body)["error"]["kind"] == "deadline_exceeded"
    assert health == {"status": "ready"}
    assert b"clinfer_batcher_queue_requests" in metrics.body
    replica.check_health()
    replica.__del__()  # what Serve calls when it stops the replica: closes the pipeline
    assert not replica.pipeline.is_ready()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def serve_cluster(example: ModuleType) -> Iterator[Any]:
    import ray
    from ray import serve

    port = free_port()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ray.init(
                num_cpus=4,  # logical CPUs: room for 2 replicas + Serve's actors on 2 cores
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": str(EXAMPLE_DIR)}},
            )
            serve.start(http_options={"host": "127.0.0.1", "port": port})
    except Exception as e:  # noqa: BLE001 - any start failure is a skip with its reason
        ray.shutdown()
        pytest.skip(f"Ray cannot start here: {type(e).__name__}: {e}")
    try:
        yield serve, f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        assert not ray.is_initialized()


def _running(serve: Any) -> int:
    app = serve.status().applications.get("clinfer")
    if app is None or "ClinferClassifier" not in app.deployments:
        return 0
    return int(app.deployments["ClinferClassifier"].replica_states.get("RUNNING", 0))


def test_serve_answers_and_autoscales_on_ongoing_requests(
    example: ModuleType, serve_cluster: Any, model_dir: str
) -> None:
    import httpx

    serve, url = serve_cluster
    # Fast autoscaling for the test; batches wait up to 50 ms, so requests stay ongoing.
    deployment = example.ClinferClassifier.options(
        autoscaling_config={
            "min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 2,
            "upscale_delay_s": 1, "downscale_delay_s": 3,
            "metrics_interval_s": 0.5, "look_back_period_s": 2,
        },
        ray_actor_options={"num_cpus": 1},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serve.run(deployment.bind(model_dir, max_batch_size=64, max_wait_ms=50),
                  name="clinfer", route_prefix="/")
    assert _running(serve) == 1

    async def load() -> dict[str, Any]:
        answers: list[httpx.Response] = []
        stop = asyncio.Event()
        peak = 1

        async def client(i: int, c: httpx.AsyncClient) -> None:
            while not stop.is_set():
                answers.append(await c.post("/v1/classify", json={"text": SENTENCES[i % 2]}))

        async with httpx.AsyncClient(base_url=url, timeout=60,
                                     limits=httpx.Limits(max_connections=32)) as c:
            tasks = [asyncio.ensure_future(client(i, c)) for i in range(24)]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and peak < 2:
                await asyncio.sleep(0.5)
                peak = max(peak, await asyncio.to_thread(_running, serve))
                if any(t.done() for t in tasks):
                    break
            stop.set()
            await asyncio.gather(*tasks)
        return {"answers": answers, "peak": peak}

    out = asyncio.run(load())
    answers = out["answers"]
    assert answers, "no request answered"
    bad = [r for r in answers if r.status_code != 200]
    assert not bad, [(r.status_code, r.text) for r in bad[:5]]
    labels = {r.json()["label"] for r in answers}
    assert labels == {"POSITIVE", "NEGATIVE"}
    assert out["peak"] == 2, "the autoscaler added no replica under load"

    # idle: back to min_replicas
    deadline = time.monotonic() + 180
    while _running(serve) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _running(serve) == 1, "the autoscaler did not remove the replica after the load"
    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/v1/health").json() == {"status": "ready"}
        r = c.post("/v1/classify", json={"texts": SENTENCES})
        assert [x["label"] for x in r.json()["results"]] == ["POSITIVE", "NEGATIVE"]
    serve.delete("clinfer")
    assert "clinfer" not in serve.status().applications
