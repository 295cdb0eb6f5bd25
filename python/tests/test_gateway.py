"""The gateway package (clinfer.gateway): its /v1 API, auth, limits, logs and shutdown.

Most tests run against real uvicorn processes on 127.0.0.1 (started once per module, three at a
time: a main server, a tiny-queue server for overload and a slow-batching one for graceful
shutdown); the error mapping is also checked in-process with a fake pipeline.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Awaitable, Callable, Iterator, Optional, Sequence

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("jwt")
pytest.importorskip("prometheus_client")

import httpx  # noqa: E402
import jwt  # noqa: E402

import clinfer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HS_KEY = "gateway-tests-hs256-secret-0123456789abcdef"  # >= 32 bytes
OTHER_KEY = "another-secret-that-the-gateway-does-not-know"

# Invented identifiers; none may ever appear in a log.
NAME = "Zebulon Quackenbush"
MRN = "99887766"
PHONE = "555-201-3344"
EMAIL = "zq.canary@example.org"
CANARIES = ["Zebulon", "Quackenbush", MRN, PHONE, EMAIL]
NOTE = f"Patient {NAME} (MRN {MRN}) called {PHONE}: a warm , funny and moving visit ."
SENTENCES = [
    "a warm , funny and moving film",
    "a tedious , joyless mess",
    "one of the best films of the year",
    "the plot is thin and the acting is wooden",
]
TIMEOUT = httpx.Timeout(60.0)
IN_FLIGHT = "clinfer_gateway_http_requests_in_flight"


def token(
    scope: Optional[str] = "classify deidentify",
    *,
    sub: str = "svc-test",
    exp_in: Optional[float] = 300,
    key: str = HS_KEY,
    alg: str = "HS256",
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {"sub": sub, "iat": int(time.time()), **claims}
    if scope is not None:
        payload["scope"] = scope
    if exp_in is not None:
        payload["exp"] = int(time.time() + exp_in)
    return jwt.encode(payload, key, algorithm=alg)


def auth(tok: Optional[str] = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok if tok is not None else token()}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(text: str, name: str, labels: str = "", default: Optional[float] = None) -> float:
    """The value of one sample, by name and labels (``'a="x",b="y"'``: the sample must carry
    these, others allowed), summed over the samples that match."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    want = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    found = [
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items())
    ]
    if not found and default is not None:
        return default
    assert found, f"{name}{{{labels}}} missing from /metrics"
    return float(sum(found))


@dataclass
class Server:
    """One `python serve.py` (uvicorn) process; its stdout and stderr go to ``log_path``."""

    name: str
    tmp: Path
    env: dict[str, str]
    audit_to_file: bool = True
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.log_path = self.tmp / f"{self.name}.log"
        self.audit_path = self.tmp / f"{self.name}-audit.jsonl"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINFER_")}
        env.update(PYTHONUNBUFFERED="1", CLINFER_JWT_HS256_KEY=HS_KEY, **self.env)
        if self.audit_to_file:
            env["CLINFER_AUDIT_LOG"] = str(self.audit_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clinfer.gateway"]
            + ["--host", "127.0.0.1", "--port", str(self.port), "--metrics-port", "0"]
            + ["--grpc-port", "0"]
            + ["--timeout-graceful-shutdown", "60"]
            + self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def audit_lines(self) -> list[dict[str, Any]]:
        text = self.audit_path.read_text() if self.audit_to_file else self.output()
        return [json.loads(line) for line in text.splitlines() if line.startswith('{"ts"')]

    def wait_ready(self, timeout: float = 180.0, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"{self.name} server exited early:\n{self.output()[-3000:]}")
                try:
                    if client.get(path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        pytest.fail(f"{self.name} server not ready in {timeout} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass
class Servers:
    main: Server
    small: Server
    drain: Server
    rsa_private_pem: Optional[bytes]


def _rsa_keys() -> Optional[tuple[bytes, bytes]]:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        return None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def servers(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("gateway")
    keys = _rsa_keys()
    main_env = {
        "CLINFER_MODEL_DIR": model_dir,
        "CLINFER_MAX_BATCH_SIZE": "16",
        "CLINFER_MAX_WAIT_MS": "20",
    }
    if keys is not None:
        (tmp / "rs256.pub.pem").write_bytes(keys[1])
        main_env["CLINFER_JWT_RS256_PUBLIC_KEY_FILE"] = str(tmp / "rs256.pub.pem")
    started: list[Server] = []
    try:
        # Started together so that the three model loads overlap.
        started.append(Server("main", tmp, main_env))
        small_env = {
            "CLINFER_MODEL_DIR": model_dir,
            "CLINFER_MAX_BATCH_SIZE": "1",
            "CLINFER_QUEUE_CAPACITY": "1",
            "CLINFER_MAX_WAIT_MS": "0",
            "CLINFER_MAX_BODY_BYTES": str(4 << 20),
            "CLINFER_HEADER_TIMEOUT_S": "2",
            "CLINFER_BODY_TIMEOUT_S": "2",
        }
        started.append(Server("small", tmp, small_env))
        # Batches wait up to 3 s to fill: requests stay in flight long enough to SIGTERM them.
        drain_env = {
            "CLINFER_MODEL_DIR": model_dir,
            "CLINFER_MAX_BATCH_SIZE": "64",
            "CLINFER_MAX_WAIT_MS": "3000",
            "CLINFER_DRAIN_TIMEOUT_S": "20",
        }
        started.append(Server("drain", tmp, drain_env, audit_to_file=False))
        for s in started:
            s.wait_ready()
        main, small, drain = started
        yield Servers(main, small, drain, rsa_private_pem=keys[0] if keys else None)
    finally:
        for s in started:
            s.stop()


def post(
    server: Server, path: str, body: Any, headers: Optional[dict[str, str]] = None
) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        return client.post(path, json=body, headers=auth() if headers is None else headers)


def assert_error(r: httpx.Response, status: int, kind: Optional[str] = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"kind", "message"}, body
    if kind is not None:
        assert body["error"]["kind"] == kind, body
    assert r.headers["x-request-id"]
    for canary in CANARIES:
        assert canary not in r.text
    return dict(body)


# ----------------------------------------------------------------------------------------------
# Real uvicorn processes
# ----------------------------------------------------------------------------------------------


def test_auth_failures_and_success(servers: Servers) -> None:
    s = servers.main
    body = {"text": SENTENCES[0]}
    with httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        r = c.post("/v1/classify", json=body)
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = c.post("/v1/classify", json=body, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert_error(r, 401, "unauthorized")

        bad = [
            token(key=OTHER_KEY),  # bad signature
            token(exp_in=-120),  # expired
            token(exp_in=None),  # no exp claim
            "not.a.jwt",
            jwt.encode({"sub": "x", "exp": int(time.time()) + 60, "scope": "classify"}, "", "none"),
            # exp must be a JSON number (RFC 7519 4.1.4), not a string PyJWT would convert
            jwt.encode({"sub": "x", "exp": str(int(time.time()) + 600), "scope": "classify"},
                       HS_KEY, "HS256"),
        ]
        for tok in bad:
            r = c.post("/v1/classify", json=body, headers=auth(tok))
            assert_error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/v1/classify", json=body, headers=auth(bad[1])).json()["error"]["message"] == (
            "token expired"
        )

        r = c.post("/v1/classify", json=body, headers=auth(token("deidentify")))
        assert_error(r, 403, "forbidden")
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
        r = c.post("/v1/deidentify", json=body, headers=auth(token("classify")))
        assert_error(r, 403, "forbidden")

        assert c.post("/v1/classify", json=body, headers=auth(token("classify"))).status_code == 200
        # the `scopes` claim (a list) works as well as `scope`
        tok = token(None, scopes=["deidentify"])
        assert c.post("/v1/deidentify", json=body, headers=auth(tok)).status_code == 200


def test_rs256_and_algorithm_confusion(servers: Servers) -> None:
    if servers.rsa_private_pem is None:
        pytest.skip("cryptography is not installed: RS256 is not configured")
    s = servers.main
    body = {"text": SENTENCES[0]}
    good = token(key=servers.rsa_private_pem.decode(), alg="RS256")
    assert post(s, "/v1/classify", body, auth(good)).status_code == 200
    # An HS256 token whose HMAC key is the server's RSA public key must not pass.
    public = Path(s.env["CLINFER_JWT_RS256_PUBLIC_KEY_FILE"]).read_bytes()

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": "mallory", "exp": int(time.time()) + 60, "scope": "classify"}
    signing_input = head + b"." + b64(json.dumps(claims).encode())
    forged = signing_input + b"." + b64(hmac.new(public, signing_input, hashlib.sha256).digest())
    assert_error(post(s, "/v1/classify", body, auth(forged.decode())), 401, "unauthorized")


def test_classify_single_and_list(servers: Servers) -> None:
    s = servers.main
    r = post(s, "/v1/classify", {"text": NOTE})
    assert r.status_code == 200, r.text
    one = r.json()
    assert one["label"] in ("POSITIVE", "NEGATIVE")
    assert 0.5 <= one["score"] <= 1.0
    assert len(one["logits"]) == 2 and one["tokens"] > 0 and one["total_ms"] > 0
    assert one["phi_counts"].get("PHONE") == 1
    assert PHONE not in one["redacted"] and "[PHONE]" in one["redacted"]
    assert NAME not in one["redacted"]

    r = post(s, "/v1/classify", {"texts": SENTENCES, "priority": 0, "deadline_ms": 30000})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(SENTENCES)
    singles = [post(s, "/v1/classify", {"text": t}).json()["label"] for t in SENTENCES]
    assert [x["label"] for x in results] == singles
    assert singles[0] == "POSITIVE" and singles[1] == "NEGATIVE"


def test_deidentify_offsets(servers: Servers) -> None:
    # Non-ASCII before the PHI: offsets must be str (code point) offsets, not bytes.
    text = f"Café note — Patient: {NAME}, MRN {MRN}, phone {PHONE}, e-mail {EMAIL}."
    r = post(servers.main, "/v1/deidentify", {"text": text})
    assert r.status_code == 200, r.text
    out = r.json()
    found = {text[sp["start"] : sp["end"]]: sp["kind"] for sp in out["spans"]}
    assert found == {NAME: "NAME", MRN: "MRN", PHONE: "PHONE", EMAIL: "EMAIL"}, found
    for canary in CANARIES:
        assert canary not in out["text"]
    assert out["text"].startswith("Café note — ")


def test_concurrent_requests_are_batched(servers: Servers) -> None:
    s = servers.main

    async def main() -> tuple[list[httpx.Response], str, str]:
        async with httpx.AsyncClient(base_url=s.url, timeout=TIMEOUT) as c:
            before = (await c.get("/metrics")).text
            rs = await asyncio.gather(
                *(
                    c.post("/v1/classify", json={"text": SENTENCES[i % 4]}, headers=auth())
                    for i in range(64)
                )
            )
            after = await c.get("/metrics")
            assert after.headers["content-type"].startswith("application/openmetrics-text")
            return list(rs), before, after.text

    rs, before, after = asyncio.run(main())
    assert [r.status_code for r in rs] == [200] * 64
    labels = [r.json()["label"] for r in rs]
    assert labels[:4] * 16 == labels
    batches = metric(after, "clinfer_batcher_batch_size_count") - metric(
        before, "clinfer_batcher_batch_size_count"
    )
    rows = metric(after, "clinfer_batcher_batch_size_sum") - metric(
        before, "clinfer_batcher_batch_size_sum"
    )
    assert rows == 64 and rows / batches > 1.0, (rows, batches)
    # The gateway's own HTTP metrics follow clinfer's, in one OpenMetrics document.
    ok = 'method="POST",route="/v1/classify",status="200"'
    assert metric(after, "clinfer_gateway_http_requests_total", ok) >= 64
    assert "clinfer_gateway_http_request_duration_seconds_bucket" in after
    assert after.rstrip().endswith("# EOF") and after.count("# EOF") == 1


def test_overload_gives_429_with_retry_after(servers: Servers) -> None:
    s = servers.small
    long_text = " ".join(SENTENCES * 30)

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=s.url, timeout=TIMEOUT) as c:
            return list(
                await asyncio.gather(
                    *(
                        c.post("/v1/classify", json={"text": long_text}, headers=auth())
                        for _ in range(48)
                    )
                )
            )

    rs = asyncio.run(main())
    statuses = [r.status_code for r in rs]
    assert set(statuses) <= {200, 429}, statuses
    over = [r for r in rs if r.status_code == 429]
    assert over, "a queue of one should overflow with 48 concurrent requests"
    assert 200 in statuses
    for r in over:
        assert_error(r, 429, "overloaded")
        assert int(r.headers["retry-after"]) >= 1


def test_invalid_input_gives_422(servers: Servers) -> None:
    s = servers.main
    bad_bodies: list[Any] = [
        {},
        {"text": ""},
        {"text": NAME, "texts": [NAME]},
        {"texts": []},
        {"texts": [NAME, ""]},
        {"text": 12345},
        {"text": NAME, "priority": 7},
        {"text": NAME, "deadline_ms": -1},
        {"text": NAME, "unexpected": NAME},
        {"texts": [NAME] * 257},
        [NAME],
        # the schema is strict, like axum_server's: no coercion
        {"text": NAME, "deadline_ms": "100"},
        {"text": NAME, "priority": True},
        {"text": NAME, "priority": "1"},
        {"texts": NAME},
    ]
    for body in bad_bodies:
        assert_error(post(s, "/v1/classify", body), 422)
    assert_error(post(s, "/v1/deidentify", {"text": ""}), 422)
    with httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        headers = {**auth(), "Content-Type": "application/json"}
        # not JSON at all
        assert_error(c.post("/v1/classify", content=f"{NAME} {MRN}", headers=headers), 422)
        # bodies json.loads cannot parse at all (FastAPI's 400) are 422 like other bad bodies
        for raw_bytes in (b'{"text": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
            r = c.post("/v1/classify", content=raw_bytes, headers=headers)
            assert_error(r, 422, "invalid_request")
        # a lone surrogate: valid JSON, but not a valid string for the schema
        raw = '{"text": "' + NAME + ' \\ud800"}'
        for path in ("/v1/classify", "/v1/deidentify"):
            assert_error(c.post(path, content=raw, headers=headers), 422, "invalid_request")
    # clinfer's own InvalidInput: a text over its 1 MiB input limit, in a body the (4 MiB)
    # gateway limit of the small server lets through
    huge = (NOTE + " ") * ((3 << 19) // len(NOTE))
    assert_error(post(servers.small, "/v1/classify", {"text": huge}), 422, "invalid_input")


def test_body_too_large_gives_413(servers: Servers) -> None:
    s = servers.main
    limit = 1 << 20
    with httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        big = json.dumps({"text": (NOTE + " ") * (2 * limit // len(NOTE))}).encode()
        assert len(big) > 2 * limit
        r = c.post(
            "/v1/classify", content=big, headers={**auth(), "Content-Type": "application/json"}
        )
        assert_error(r, 413, "payload_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: the streamed size counts
            yield b'{"text": "'
            for _ in range(limit // 65536):
                yield b"a" * 65536
            yield b'a"}'

        r = c.post(
            "/v1/classify",
            content=chunked(),
            headers={**auth(), "Content-Type": "application/json"},
        )
        assert "content-length" not in r.request.headers
        assert_error(r, 413, "payload_too_large")
        # just under the limit is accepted by the gateway (clinfer may still judge the text)
        r = c.post("/v1/deidentify", json={"text": "b" * (limit - 100)}, headers=auth())
        assert r.status_code == 200, r.text[:200]


def _closed_by_server(sock: socket.socket) -> bytes:
    """Reads until the server closes; fails if it stays open for a minute (a hang guard)."""
    sock.settimeout(60)
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except socket.timeout:
        pytest.fail("the server kept the connection open")
    except ConnectionResetError:
        pass
    return got


def test_silent_half_open_and_slow_connections_are_closed(servers: Servers) -> None:
    s = servers.small  # header and body timeouts of 2 s
    port = int(s.url.rsplit(":", 1)[1])
    many = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-")
    for sock in many + [half]:
        assert _closed_by_server(sock) == b""
        sock.close()
    # the head came, the body stops half-way: 408 with the usual error body
    slow = socket.create_connection(("127.0.0.1", port))
    token = auth()["Authorization"]
    slow.sendall(
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {token}\r\nContent-Length: 100\r\n\r\n".encode()
        + b'{"text": "'
    )
    answer = _closed_by_server(slow)
    slow.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    # and the server still serves
    assert post(s, "/v1/classify", {"text": SENTENCES[0]}).status_code == 200


def test_deadline_gives_504(servers: Servers) -> None:
    r = post(servers.main, "/v1/classify", {"text": SENTENCES[0], "deadline_ms": 0})
    assert_error(r, 504, "deadline_exceeded")


def test_probes_and_openapi(servers: Servers) -> None:
    with httpx.Client(base_url=servers.main.url, timeout=TIMEOUT) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        spec = c.get("/openapi.json").json()
        assert {"/v1/classify", "/v1/deidentify", "/healthz", "/readyz", "/metrics"} <= set(
            spec["paths"]
        )
        scheme = spec["components"]["securitySchemes"]["bearerJWT"]
        assert scheme["type"] == "http" and scheme["scheme"].lower() == "bearer"
        assert spec["paths"]["/v1/classify"]["post"]["security"] == [{"bearerJWT": ["classify"]}]
        assert c.get("/docs").status_code == 200
        assert_error(c.get("/nowhere"), 404, "not_found")


def test_graceful_shutdown_finishes_in_flight_requests(servers: Servers) -> None:
    s = servers.drain
    n = 8
    # One more request has sent its head and half its body when SIGTERM comes: it was
    # accepted, so the drain must not refuse it when its handler starts after the signal.
    late_body = json.dumps({"text": SENTENCES[0]}).encode()
    head = (
        "POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth()['Authorization']}\r\nContent-Length: {len(late_body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    async def main() -> tuple[list[httpx.Response], int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(head + late_body[:5])
        await writer.drain()
        async with httpx.AsyncClient(base_url=s.url, timeout=TIMEOUT) as c:
            tasks = [
                asyncio.ensure_future(
                    c.post("/v1/classify", json={"text": SENTENCES[i % 4]}, headers=auth())
                )
                for i in range(n)
            ]
            # Wait until the server holds all of them (the batcher waits up to 3 s to fill).
            async with httpx.AsyncClient(base_url=s.url, timeout=TIMEOUT) as probe:
                held = 0.0
                for _ in range(500):
                    text = (await probe.get("/metrics")).text
                    held = metric(text, IN_FLIGHT, 'route="/v1/classify"', default=0.0)
                    if held >= n + 1:
                        break
                    await asyncio.sleep(0.01)
                assert held >= n + 1, f"only {held} of {n + 1} requests reached the server"
            done_at_signal = sum(t.done() for t in tasks)
            s.proc.send_signal(signal.SIGTERM)
            # Once the gateway is unready, the half-sent request sends the rest of its body.
            async with httpx.AsyncClient(base_url=s.url, timeout=TIMEOUT) as probe:
                for _ in range(500):
                    if (await probe.get("/v2/health/ready")).status_code == 503:
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the gateway stayed ready after SIGTERM")
                late = await probe.post(
                    "/v1/classify", json={"text": SENTENCES[1]}, headers=auth()
                )
                assert late.status_code == 503, late.text  # a request after SIGTERM is refused
                assert late.json()["error"]["kind"] == "shutting_down", late.text
            writer.write(late_body[5:])
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 60)
            writer.close()
            return list(await asyncio.gather(*tasks)), done_at_signal, raw

    rs, done_at_signal, raw = asyncio.run(main())
    assert done_at_signal == 0, "requests finished before SIGTERM; the test proves nothing"
    assert [r.status_code for r in rs] == [200] * n, [r.text for r in rs]
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), raw[:300]
    assert b'"label"' in rest, raw[:300]
    rc = s.proc.wait(60)
    # uvicorn >= 0.29 re-raises the signal once it has shut down gracefully, so the exit status
    # is "terminated by SIGTERM" (older versions exit 0).
    assert rc in (0, -signal.SIGTERM), rc
    out = s.output()
    assert "gateway stopped: pipeline closed (drained=True)" in out
    assert "Application shutdown complete" in out
    ok = [a for a in s.audit_lines() if a["route"] == "/v1/classify" and a["status"] == 200]
    assert len(ok) >= n  # audit lines went to stderr (no CLINFER_AUDIT_LOG)


def test_drift_endpoint_compares_against_the_versions_shipped_reference(
    model_dir: str, tmp_path: Path
) -> None:
    # A version directory that ships the reference it was validated with (fitted on reviews).
    version = tmp_path / "model"
    version.mkdir()
    for f in Path(model_dir).iterdir():
        if f.is_file():
            (version / f.name).symlink_to(f)
    reviews = [f"{s} {i}" for i in range(50) for s in SENTENCES]
    with clinfer.Pipeline(str(version)) as pipe:
        assert pipe.fit_drift_reference(reviews) == len(reviews)
        pipe.save_drift_reference(version / "drift_reference.json")
    env = {
        "CLINFER_MODEL_DIR": str(version),
        "CLINFER_MAX_WAIT_MS": "5",
        "CLINFER_DRIFT_WINDOW": "200",
    }
    s = Server("drift", tmp_path, env)
    try:
        s.wait_ready()
        with httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
            assert c.get("/v1/drift").status_code == 401
            assert c.get("/v1/drift", headers=auth(token("deidentify"))).status_code == 403
            before = c.get("/v1/drift", headers=auth()).json()
            (entry,) = before["models"]
            d = entry["drift"]
            # the shipped reference is in use from the start: nothing to freeze
            assert d["reference_source"] == "snapshot", d
            assert d["reference_requests"] == len(reviews) and d["requests"] == 0
            assert d["state"] == "warming_up" and d["signals"]["label"]["value"] is None
            for _ in range(5):  # 250 notes with names, phone numbers and MRNs
                r = c.post("/v1/classify", json={"texts": [NOTE] * 50}, headers=auth())
                assert r.status_code == 200, r.text
            body = c.get("/v1/drift", headers=auth()).text
            d = json.loads(body)["models"][0]["drift"]
            assert 180 <= d["requests"] <= 200, d  # the window slides by tenths
            assert d["state"] == "alert", d
            for moved in ("phi_NAME", "phi_PHONE", "length"):
                sig = d["signals"][moved]
                assert sig["state"] == "alert" and sig["value"] >= sig["alert"], (moved, sig)
            assert d["signals"]["truncation"]["state"] == "ok", d["signals"]["truncation"]
            metrics = c.get("/metrics").text
        name = entry["name"]
        labels = f'signal="phi_NAME",model="{name}"'
        assert metric(metrics, "clinfer_drift_state", labels) == 2.0
        assert metric(metrics, "clinfer_drift_value", labels) >= 0.25
        for text in (body, metrics):
            for canary in (NAME, *NAME.split(), MRN, PHONE):
                assert canary not in text, canary
    finally:
        s.stop()


def test_no_phi_in_logs(servers: Servers) -> None:
    s = servers.main
    ids: dict[str, str] = {}
    with httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        r = c.post("/v1/classify", json={"text": NOTE}, headers=auth(token(sub="svc-audit")))
        assert r.status_code == 200
        ids["classify"] = r.headers["x-request-id"]
        classify_counts = r.json()["phi_counts"]
        r = c.post("/v1/classify", json={"texts": [NOTE, f"email {EMAIL}"]}, headers=auth())
        assert r.status_code == 200
        ids["batch"] = r.headers["x-request-id"]
        r = c.post("/v1/deidentify", json={"text": NOTE}, headers=auth())
        assert r.status_code == 200
        ids["deidentify"] = r.headers["x-request-id"]
        # errors with PHI in the body, the query string and the path
        r = c.post("/v1/classify", json={"text": NOTE})
        ids["401"] = r.headers["x-request-id"]
        r = c.post(
            "/v1/classify", json={"text": NOTE, "priority": "urgent " + NAME}, headers=auth()
        )
        ids["422"] = r.headers["x-request-id"]
        r = c.post(f"/v1/classify?note={NAME}&mrn={MRN}", json={"text": NOTE}, headers=auth())
        assert r.status_code == 200
        r = c.get(f"/patients/{MRN}/{NAME}")
        assert r.status_code == 404
        r = c.post("/v1/classify", json={"text": NOTE, "deadline_ms": 0}, headers=auth())
        ids["504"] = r.headers["x-request-id"]
    time.sleep(0.2)

    out = s.output()
    audit_text = s.audit_path.read_text()
    for canary in CANARIES:
        assert canary not in out, f"{canary!r} in the server output"
        assert canary not in audit_text, f"{canary!r} in the audit log"
    # the captured output is the real thing: uvicorn's access log is in it, query-less
    assert '"POST /v1/classify HTTP/1.1" 200' in out
    assert '"GET <other> HTTP/1.1" 404' in out

    audit = {a["request_id"]: a for a in s.audit_lines()}
    for rid in ids.values():
        assert rid in audit
    line = audit[ids["classify"]]
    assert line["sub"] == "svc-audit" and line["route"] == "/v1/classify"
    assert line["status"] == 200 and line["texts"] == 1 and line["latency_ms"] > 0
    assert line["phi_counts"] == classify_counts and classify_counts
    assert audit[ids["batch"]]["texts"] == 2 and audit[ids["batch"]]["phi_counts"]["EMAIL"] == 1
    assert audit[ids["deidentify"]]["phi_counts"].get("PHONE") == 1
    assert audit[ids["401"]]["status"] == 401 and audit[ids["401"]]["sub"] is None
    assert audit[ids["422"]]["error"] == "invalid_request"
    assert audit[ids["504"]]["status"] == 504 and audit[ids["504"]]["error"] == "deadline_exceeded"
    assert set(line) == {
        "ts",
        "request_id",
        "sub",
        "method",
        "route",
        "status",
        "texts",
        "phi_counts",
        "error",
        "model",
        "version",
        "latency_ms",
    }
    assert line["model"] == Path(s.env["CLINFER_MODEL_DIR"]).name and line["version"] == "1"


# ----------------------------------------------------------------------------------------------
# In process, with a fake pipeline
# ----------------------------------------------------------------------------------------------


def load_gateway() -> ModuleType:
    import clinfer.gateway.app

    return clinfer.gateway.app


@dataclass
class FakeClassification:
    label: str = "POSITIVE"
    score: float = 0.75
    logits: list[float] = field(default_factory=lambda: [0.0, 1.0])
    redacted: Optional[str] = "[NAME] is fine"
    phi_counts: dict[str, int] = field(default_factory=lambda: {"NAME": 1})
    tokens: int = 6
    total_s: float = 0.002


class FakePipeline:
    """Raises the exception its input names; otherwise answers a fixed classification."""

    def __init__(self) -> None:
        self.ready = True
        self.closed_with: Optional[float] = None

    def _maybe_raise(self, text: str) -> None:
        if text.startswith("overloaded"):
            over = clinfer.Overloaded("the queue is full")
            over.retry_after = float(text.split()[1])
            raise over
        errors: dict[str, Exception] = {
            "deadline": clinfer.DeadlineExceeded("the request deadline passed"),
            "invalid": clinfer.InvalidInput("invalid input: text 0: too many tokens"),
            "shutting": clinfer.ShuttingDown("the pipeline is shutting down"),
            "model": clinfer.ModelLoadError("cannot load the pipeline"),
            "clinfer": clinfer.ClinferError("internal error: a worker failed"),
            "bug": RuntimeError(f"unexpected failure while handling {NAME}"),
        }
        for prefix, exc in errors.items():
            if text.startswith(prefix):
                raise exc

    async def classify(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> FakeClassification:
        self._maybe_raise(text)
        return FakeClassification()

    async def classify_many(
        self, texts: Sequence[str], *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> list[FakeClassification]:
        for t in texts:
            self._maybe_raise(t)
        return [FakeClassification() for _ in texts]

    def metrics(self) -> str:
        return "# TYPE clinfer_fake counter\nclinfer_fake_total 1\n# EOF\n"

    def is_ready(self) -> bool:
        return self.ready

    def close(self, drain_timeout_s: float = 5.0) -> bool:
        self.closed_with = drain_timeout_s
        return True


InProcessTest = Callable[[httpx.AsyncClient, FakePipeline, Path, list[str]], Awaitable[None]]


def run_in_process(tmp_path: Path, test: InProcessTest) -> None:
    """Runs ``test`` against the app in this process (lifespan included), with a fake pipeline,
    the audit log in a file and the gateway's own log records collected."""
    gw = load_gateway()
    fake = FakePipeline()
    audit = tmp_path / "audit.jsonl"
    settings = gw.Settings(
        jwt_hs256_key=HS_KEY.encode(),
        audit_log=str(audit),
        drain_timeout_s=1.5,
        model_dir=str(tmp_path / "fake-model"),
    )
    app = gw.create_app(settings, pipeline_factory=lambda _spec: fake)
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                for _ in range(500):  # the models load in the background
                    if app.state.gateway.models.serving():
                        break
                    await asyncio.sleep(0.01)
                await test(client, fake, audit, records)

    handler = Collect()
    logging.getLogger("clinfer.gateway").addHandler(handler)
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("clinfer.gateway").removeHandler(handler)
    assert fake.closed_with == 1.5  # the lifespan closed (drained) the pipeline


def test_error_mapping_in_process(tmp_path: Path) -> None:
    cases = [
        ("overloaded 0.2", 429, "overloaded"),
        ("overloaded 2.5", 429, "overloaded"),
        ("deadline", 504, "deadline_exceeded"),
        ("invalid", 422, "invalid_input"),
        ("shutting", 503, "shutting_down"),
        ("model", 500, "model_load"),
        ("clinfer", 500, "internal"),
        ("bug", 500, "internal"),
    ]

    async def test(
        client: httpx.AsyncClient, fake: FakePipeline, audit: Path, records: list[str]
    ) -> None:
        for text, status, kind in cases:
            for body in ({"text": text}, {"texts": ["fine", text]}):
                r = await client.post("/v1/classify", json=body, headers=auth())
                assert r.status_code == status, (text, r.text)
                assert r.json()["error"]["kind"] == kind
                assert NAME not in r.text
        r = await client.post("/v1/classify", json={"text": "overloaded 0.2"}, headers=auth())
        assert r.headers["retry-after"] == "1"
        r = await client.post("/v1/classify", json={"text": "overloaded 2.5"}, headers=auth())
        assert r.headers["retry-after"] == "3"
        r = await client.post("/v1/classify", json={"text": "bug"}, headers=auth())
        assert r.json() == {"error": {"kind": "internal", "message": "internal error"}}
        ok = await client.post("/v1/classify", json={"text": "fine"}, headers=auth())
        assert ok.status_code == 200 and ok.json()["phi_counts"] == {"NAME": 1}
        # the unexpected exception was logged by type and request id, without its message
        assert any("unhandled RuntimeError" in m for m in records), records
        assert not any(NAME in m for m in records)
        lines = [json.loads(x) for x in audit.read_text().splitlines()]
        kinds = {a["error"] for a in lines}
        assert {"overloaded", "deadline_exceeded", "invalid_input", "internal"} <= kinds
        assert NAME not in audit.read_text()

    run_in_process(tmp_path, test)


def test_readiness_and_metrics_in_process(tmp_path: Path) -> None:
    async def test(
        client: httpx.AsyncClient, fake: FakePipeline, audit: Path, records: list[str]
    ) -> None:
        assert (await client.get("/readyz")).status_code == 200
        fake.ready = False
        r = await client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["kind"] == "not_ready"
        text = (await client.get("/metrics")).text
        # the pipeline's metrics, labelled with the model (named after its directory)
        assert 'clinfer_fake_total{model="fake-model",version="1"} 1.0' in text, text
        assert text.count("# EOF") == 1 and text.rstrip().endswith("# EOF")
        sample = (
            'clinfer_gateway_http_requests_total{method="GET",route="/readyz",status="503"} 1.0'
        )
        assert sample in text

    run_in_process(tmp_path, test)


def test_settings_from_env() -> None:
    gw = load_gateway()
    with pytest.raises(gw.ConfigError, match="CLINFER_JWT_HS256_KEY"):
        gw.Settings.from_env({})
    with pytest.raises(gw.ConfigError, match="at least 32 bytes"):
        gw.Settings.from_env({"CLINFER_JWT_HS256_KEY": "short"})
    with pytest.raises(gw.ConfigError, match="CLINFER_QUEUE_CAPACITY"):
        gw.Settings.from_env({"CLINFER_JWT_HS256_KEY": HS_KEY, "CLINFER_QUEUE_CAPACITY": "many"})
    for name, value in [
        ("CLINFER_MAX_WAIT_MS", "1e300"),
        ("CLINFER_MAX_WAIT_MS", "nan"),
        ("CLINFER_MAX_BATCH_SIZE", str(2**64)),
        ("CLINFER_MAX_BATCH_SIZE", "0"),
        ("CLINFER_QUEUE_CAPACITY", str(10**30)),
        ("CLINFER_MAX_BODY_BYTES", str(2**63)),
        ("CLINFER_DEFAULT_DEADLINE_MS", "inf"),
        ("CLINFER_DRAIN_TIMEOUT_S", "-1"),
        ("CLINFER_DRIFT_WINDOW", "5"),
        ("CLINFER_DRIFT_WINDOW", str(10**9)),
        ("CLINFER_DRIFT_REFERENCE_SIZE", "0"),
    ]:
        with pytest.raises(gw.ConfigError, match=name):
            gw.Settings.from_env({"CLINFER_JWT_HS256_KEY": HS_KEY, name: value})
    s = gw.Settings.from_env(
        {
            "CLINFER_JWT_HS256_KEY": HS_KEY,
            "CLINFER_MAX_BATCH_SIZE": "8",
            "CLINFER_MAX_WAIT_MS": "2.5",
            "CLINFER_MAX_BODY_BYTES": "4096",
            "CLINFER_DEFAULT_DEADLINE_MS": "250",
        }
    )
    assert (s.max_batch_size, s.max_wait_ms, s.max_body_bytes) == (8, 2.5, 4096)
    assert s.default_deadline_ms == 250 and s.model_dir is None
    assert HS_KEY not in repr(s)
    # flags win over variables; --model and --model-repository exclude each other
    s = gw.Settings.from_env(
        {"CLINFER_JWT_HS256_KEY": HS_KEY, "CLINFER_PORT": "9000"}, {"port": 9100}
    )
    assert s.port == 9100
    with pytest.raises(gw.ConfigError, match="not both"):
        gw.Settings.from_env(
            {"CLINFER_JWT_HS256_KEY": HS_KEY, "CLINFER_MODEL_DIR": "a"},
            {"model_repository": "b"},
        )
    with pytest.raises(gw.ConfigError, match="--model"):
        gw.create_app(gw.Settings.from_env({"CLINFER_JWT_HS256_KEY": HS_KEY}))


def test_access_log_hides_client_chosen_methods_and_paths() -> None:
    gw = load_gateway()
    f = gw.AccessLogFilter()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", NAME.upper(), f"/v1/classify?note={NAME}", "1.1", 405), None,
    )
    assert f.filter(record)
    line = record.getMessage()
    assert NAME.upper() not in line and NAME not in line, line
    assert '"<other> /v1/classify HTTP/1.1" 405' in line, line
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/{NAME}", "1.1", 404), None,
    )
    assert f.filter(record)
    assert '"POST <other> HTTP/1.1" 404' in record.getMessage()
