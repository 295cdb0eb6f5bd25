"""A rollout's view of ``clinfer-gateway`` (serve.py's ``DrainingServer``): a real gateway
process, under load, receives SIGTERM as Kubernetes sends it. It must turn unready at once
(``/v2/health/ready`` 503) while the listener stays open, answer every request it had accepted
(in flight or queued in the batcher) with a result, refuse new work with 503
``shutting_down``, and exit 0 within the drain timeout.

Requests are counted, not timed: the only time bounds are generous ones on the process exit.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("jwt")
pytest.importorskip("prometheus_client")

import httpx  # noqa: E402
import jwt  # noqa: E402

HS_KEY = "rollout-tests-hs256-secret-0123456789abcdef"
SENTENCES = ["a warm , funny and moving film", "a tedious , joyless mess"]
READY = "/v2/health/ready"
IN_FLIGHT = "clinfer_gateway_http_requests_in_flight"
QUEUED = "clinfer_batcher_queue_requests"
TIMEOUT = httpx.Timeout(60.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth() -> dict[str, str]:
    claims = {"sub": "svc-rollout", "exp": int(time.time()) + 600, "scope": "classify"}
    return {"Authorization": f"Bearer {jwt.encode(claims, HS_KEY, algorithm='HS256')}"}


def sample(text: str, name: str, route: Optional[str] = None) -> float:
    """The sum of the samples of ``name`` (optionally only those with ``route="..."``)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if m and (route is None or f'route="{route}"' in (m.group(1) or "")):
            total += float(m.group(2))
    return total


class Gateway:
    """One ``python -m clinfer.gateway`` process on 127.0.0.1, its output in ``log``."""

    def __init__(self, tmp: Path, model_dir: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "gateway.log"
        full = {k: v for k, v in os.environ.items() if not k.startswith("CLINFER_")}
        full.update(PYTHONUNBUFFERED="1", CLINFER_JWT_HS256_KEY=HS_KEY,
                    CLINFER_MODEL_DIR=model_dir, **env)
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clinfer.gateway", "--host", "127.0.0.1",
             "--port", str(self.port), "--metrics-port", "0", "--grpc-port", "0"],
            stdout=self._out, stderr=subprocess.STDOUT, env=full,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"the gateway exited early:\n{self.output()[-3000:]}")
                try:
                    if c.get(READY).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        pytest.fail(f"the gateway was not ready in {timeout} s:\n{self.output()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture
def gateway_factory(model_dir: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Gateway] = []

    def start(**env: str) -> Gateway:
        g = Gateway(tmp_path, model_dir, env)
        started.append(g)
        g.wait_ready()
        return g

    yield start
    for g in started:
        g.close()


def test_sigterm_under_load_drains_every_accepted_request(gateway_factory: Any) -> None:
    # Batches wait up to 1.5 s to fill 64 rows: what is sent stays queued long enough to
    # SIGTERM it. The drain timeout is far longer than the work.
    drain_timeout_s = 30.0
    gw = gateway_factory(CLINFER_MAX_BATCH_SIZE="64", CLINFER_MAX_WAIT_MS="1500",
                         CLINFER_DRAIN_TIMEOUT_S=str(drain_timeout_s))
    held_n = 40
    load_workers = 4

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=held_n + load_workers + 4)
        async with httpx.AsyncClient(base_url=gw.url, timeout=TIMEOUT, limits=limits) as c:
            signalled = asyncio.Event()
            load: list[tuple[bool, Any]] = []  # (sent after SIGTERM, status or exception)

            async def worker(i: int) -> None:
                while True:
                    after = signalled.is_set()
                    try:
                        r = await c.post("/v1/classify", json={"text": SENTENCES[i % 2]},
                                         headers=auth())
                        load.append((after, r))
                    except httpx.TransportError as e:
                        load.append((after, e))
                    if after:
                        return

            workers = [asyncio.ensure_future(worker(i)) for i in range(load_workers)]
            held = [
                asyncio.ensure_future(
                    c.post("/v1/classify", json={"text": SENTENCES[i % 2]}, headers=auth())
                )
                for i in range(held_n)
            ]
            # Wait until the server holds every one of them (in flight, most of them queued).
            async with httpx.AsyncClient(base_url=gw.url, timeout=TIMEOUT) as probe:
                in_flight = queued = 0.0
                for _ in range(1000):
                    text = (await probe.get("/metrics")).text
                    in_flight = sample(text, IN_FLIGHT, "/v1/classify")
                    queued = sample(text, QUEUED)
                    # in flight counts at the HTTP layer, before the text is scrubbed and
                    # queued: wait for both
                    if in_flight >= held_n and queued >= 1:
                        break
                    await asyncio.sleep(0.01)
            assert in_flight >= held_n, f"only {in_flight} of {held_n} requests reached the server"
            done_at_signal = sum(t.done() for t in held)
            gw.proc.send_signal(signal.SIGTERM)
            signalled.set()

            # Readiness turns 503 at once, on a listener that is still open.
            ready: list[int] = []
            refused_new: list[Any] = []
            async with httpx.AsyncClient(base_url=gw.url, timeout=TIMEOUT) as fresh:
                for _ in range(3):
                    try:
                        ready.append((await fresh.get(READY)).status_code)
                    except httpx.TransportError as e:
                        ready.append(-1)
                        refused_new.append(e)
                # New work is refused (not accepted, so nothing to lose).
                for _ in range(5):
                    try:
                        refused_new.append(
                            await fresh.post("/v1/classify", json={"text": SENTENCES[0]},
                                             headers=auth())
                        )
                    except httpx.TransportError as e:
                        refused_new.append(e)
            answers = list(await asyncio.gather(*held))
            await asyncio.gather(*workers)
            return dict(answers=answers, done_at_signal=done_at_signal, queued=queued,
                        ready=ready, refused_new=refused_new, load=load)

    out = asyncio.run(main())
    assert out["done_at_signal"] == 0, "requests finished before SIGTERM; the test proves nothing"
    assert out["queued"] >= 1, "nothing was queued in the batcher at SIGTERM"
    # The first probe after the signal already answers 503 (the listener is open).
    assert out["ready"][0] == 503, out["ready"]
    assert 200 not in out["ready"], out["ready"]

    # Every request accepted before SIGTERM answered with a result.
    answers: list[httpx.Response] = out["answers"]
    assert [r.status_code for r in answers] == [200] * held_n, [r.text for r in answers]
    assert all(r.json()["label"] in ("POSITIVE", "NEGATIVE") for r in answers)

    # New requests during the drain: 503 shutting_down, or refused once the listener closed.
    for r in out["refused_new"]:
        if isinstance(r, httpx.Response):
            assert r.status_code == 503 and r.json()["error"]["kind"] == "shutting_down", r.text
        else:
            assert isinstance(r, httpx.ConnectError), repr(r)

    # The load: nothing sent before the signal failed; 200s are results, the rest refusals.
    ok = 0
    for after, r in out["load"]:
        if isinstance(r, httpx.Response):
            if r.status_code == 200:
                ok += 1
                assert r.json()["label"] in ("POSITIVE", "NEGATIVE")
            else:
                assert r.status_code == 503 and r.json()["error"]["kind"] == "shutting_down"
        else:
            assert after, f"a request sent before SIGTERM failed: {r!r}"
    assert ok >= 1, "the load generator got no answer before SIGTERM"

    rc = gw.proc.wait(drain_timeout_s + 60)  # generous: the work takes ~2 s
    log = gw.output()
    assert rc == 0, log[-3000:]
    assert f"waiting up to {drain_timeout_s:.1f} s for" in log
    assert "drained: every request in flight at SIGTERM has finished" in log
    assert "drain timeout" not in log
    assert "gateway stopped: pipeline closed (drained=True)" in log
    # The count: the access log has one 200 line per answered classification.
    assert log.count('"POST /v1/classify HTTP/1.1" 200') == held_n + ok


def test_sigterm_when_idle_exits_0_without_waiting_the_drain_timeout(gateway_factory: Any) -> None:
    gw = gateway_factory(CLINFER_DRAIN_TIMEOUT_S="600")
    with httpx.Client(base_url=gw.url, timeout=TIMEOUT) as c:
        assert c.post("/v1/classify", json={"text": SENTENCES[0]}, headers=auth()).status_code == 200
    gw.proc.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(120)  # far below the 600 s drain timeout: nothing was in flight
    assert rc == 0, gw.output()[-3000:]
    assert "drained: every request in flight at SIGTERM has finished" in gw.output()

