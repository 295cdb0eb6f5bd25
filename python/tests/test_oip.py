"""The gateway package as Triton's stand-in: the Open Inference Protocol (``/v2``) through
``tritonclient.http`` against a real ``python -m clinfer.gateway`` process serving a model
repository, a version rollout under load, and the repository rules (in process)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("jwt")
pytest.importorskip("prometheus_client")
np = pytest.importorskip("numpy")
httpclient = pytest.importorskip("tritonclient.http")

import httpx  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

import clinfer  # noqa: E402
from clinfer.gateway import models as gw_models  # noqa: E402
from clinfer.gateway import repository as gw_repo  # noqa: E402
from clinfer.gateway.metrics import HttpMetrics  # noqa: E402
from clinfer.gateway.settings import OPTIONS, Settings  # noqa: E402

from test_gateway import (  # noqa: E402
    CANARIES,
    HS_KEY,
    NOTE,
    SENTENCES,
    FakePipeline,
    Server,
    free_port,
    metric,
    token,
)

MODEL = "sst2"


def headers(scope: str = "classify deidentify admin") -> dict[str, str]:
    """Fresh headers: tritonclient.http adds its own to the dict it is given (pass a copy)."""
    return {"Authorization": f"Bearer {token(scope)}"}


def copy_version(src: str, dest: Path) -> None:
    """Copies a model directory file by file (not atomically: the gateway must wait)."""
    dest.mkdir(parents=True)
    for f in sorted(Path(src).iterdir()):
        if f.is_file():
            shutil.copyfile(f, dest / f.name)


@pytest.fixture(scope="module")
def repo_server(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("oip")
    repo = tmp / "repo"
    copy_version(model_dir, repo / MODEL / "1")
    (repo / MODEL / "clinfer.json").write_text(
        json.dumps({"version_policy": {"latest": {"num_versions": 1}}, "max_wait_ms": 10})
    )
    metrics_port = free_port()
    grpc_port = free_port()
    server = Server(
        "oip",
        tmp,
        {"CLINFER_MAX_BATCH_SIZE": "16"},
        args=[
            "--model-repository",
            str(repo),
            "--repository-poll-s",
            "0.3",
            "--metrics-port",
            str(metrics_port),
            "--grpc-port",
            str(grpc_port),
        ],
    )
    server.grpc_port = grpc_port  # type: ignore[attr-defined]
    server.repo = repo  # type: ignore[attr-defined]
    server.metrics_port = metrics_port  # type: ignore[attr-defined]
    try:
        server.wait_ready(path="/v2/health/ready")
        yield server
    finally:
        server.stop()


def client(server: Server) -> Any:
    return httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))


def text_input(texts: Sequence[str], binary: bool = True) -> Any:
    inp = httpclient.InferInput("TEXT", [len(texts)], "BYTES")
    inp.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=object), binary_data=binary)
    return inp


def v1_labels(server: Server, texts: Sequence[str]) -> list[str]:
    r = httpx.post(
        server.url + "/v1/classify", json={"texts": list(texts)}, headers=headers(), timeout=60
    )
    assert r.status_code == 200, r.text
    return [x["label"] for x in r.json()["results"]]


def test_metadata_health_and_inference_with_tritonclient(repo_server: Server) -> None:
    c = client(repo_server)
    h = headers()
    assert c.is_server_live() and c.is_server_ready()  # health needs no token
    meta = c.get_server_metadata(headers=dict(h))
    assert meta["name"] == "clinfer" and "binary_tensor_data" in meta["extensions"]
    assert c.is_model_ready(MODEL, headers=dict(h)) and c.is_model_ready(MODEL, "1", headers=dict(h))
    assert not c.is_model_ready(MODEL, "9", headers=dict(h))
    md = c.get_model_metadata(MODEL, headers=dict(h))
    assert md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "TEXT", "datatype": "BYTES", "shape": [-1]}]
    assert [(o["name"], o["datatype"], o["shape"]) for o in md["outputs"]] == [
        ("LABEL", "BYTES", [-1]),
        ("SCORE", "FP32", [-1]),
        ("LOGITS", "FP32", [-1, 2]),
    ]
    assert c.get_model_config(MODEL, headers=dict(h))["max_batch_size"] == 16

    expected = v1_labels(repo_server, SENTENCES)
    # tritonclient's defaults: binary input, no outputs named -> every output binary
    res = c.infer(MODEL, [text_input(SENTENCES)], headers=dict(h))
    assert [x.decode() for x in res.as_numpy("LABEL")] == expected
    logits = res.as_numpy("LOGITS")
    assert logits.shape == (len(SENTENCES), 2) and logits.dtype == np.float32
    scores = res.as_numpy("SCORE")
    assert scores.shape == (len(SENTENCES),) and np.all((scores >= 0.5) & (scores <= 1.0))
    assert np.array_equal(np.argmax(logits, axis=1) == 1, np.array(expected) == "POSITIVE")
    assert res.get_response()["model_version"] == "1"
    # JSON tensors, one output selected, a request id, a version in the path
    res = c.infer(
        MODEL,
        [text_input(SENTENCES, binary=False)],
        model_version="1",
        outputs=[httpclient.InferRequestedOutput("LABEL", binary_data=False)],
        request_id="req-7",
        headers=dict(h),
    )
    body = res.get_response()
    assert body["id"] == "req-7" and [o["name"] for o in body["outputs"]] == ["LABEL"]
    assert body["outputs"][0]["data"] == expected
    # the de-identifier is a model too
    res = c.infer("deidentify", [text_input([NOTE, "no phi here"])], headers=dict(h))
    redacted = [x.decode() for x in res.as_numpy("REDACTED")]
    counts = [json.loads(x) for x in res.as_numpy("PHI_COUNTS")]
    for canary in CANARIES:
        assert canary not in redacted[0]
    assert counts[0].get("PHONE") == 1 and counts[1] == {}
    index = c.get_model_repository_index(headers=dict(h))
    assert {(m["name"], m["version"], m["state"]) for m in index} >= {
        ("deidentify", "1", "READY"),
        (MODEL, "1", "READY"),
    }


def test_binary_wire_format(repo_server: Server) -> None:
    """The binary extension byte by byte, without tritonclient."""
    texts = ["a warm , funny and moving film", "é"]
    raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "TEXT",
                    "datatype": "BYTES",
                    "shape": [2, 1],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [
                {"name": "SCORE", "parameters": {"binary_data": True}},
                {"name": "LABEL"},
            ],
        }
    ).encode()
    r = httpx.post(
        f"{repo_server.url}/v2/models/{MODEL}/infer",
        content=head + raw,
        headers={**headers(), "Inference-Header-Content-Length": str(len(head))},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    body = json.loads(r.content[:n])
    score, label = body["outputs"]
    assert score["parameters"]["binary_data_size"] == 8 and "data" not in score
    assert len(r.content) == n + 8
    values = struct.unpack("<2f", r.content[n:])
    assert all(0.5 <= v <= 1.0 for v in values)
    assert label["datatype"] == "BYTES" and len(label["data"]) == 2


def test_protocol_errors(repo_server: Server) -> None:
    c = client(repo_server)
    url = f"{repo_server.url}/v2/models/{MODEL}/infer"

    def post(body: Any, hdrs: Optional[dict[str, str]] = None) -> httpx.Response:
        return httpx.post(url, json=body, headers=headers() if hdrs is None else hdrs, timeout=60)

    def oip_error(r: httpx.Response, status: int) -> str:
        assert r.status_code == status, r.text
        body = r.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), body
        for canary in CANARIES:
            assert canary not in r.text
        return str(body["error"])

    good = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1], "data": [NOTE]}]}
    assert post(good).status_code == 200
    bad_bodies: list[Any] = [
        {"inputs": [{"name": "TEXT", "datatype": "FP32", "shape": [1], "data": [1.0]}]},
        {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2], "data": [NOTE]}]},
        {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1, 2], "data": [NOTE, NOTE]}]},
        {"inputs": [{"name": NOTE, "datatype": "BYTES", "shape": [1], "data": [NOTE]}]},
        {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1], "data": [7]}]},
        {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1], "data": [""]}]},
        {"inputs": []},
        {**good, "outputs": [{"name": "NOPE"}]},
        {**good, "parameters": {"timeout": "soon"}},
        [NOTE],
    ]
    for body in bad_bodies:
        oip_error(post(body), 400)
    r = httpx.post(url, content=b"{not json " + NOTE.encode(), headers=headers(), timeout=60)
    oip_error(r, 400)
    r = httpx.post(
        url,
        content=b"{}",
        headers={**headers(), "Inference-Header-Content-Length": "99"},
        timeout=60,
    )
    oip_error(r, 400)
    oip_error(post(good, {}), 401)
    oip_error(post(good, headers("deidentify")), 403)
    r = httpx.post(
        f"{repo_server.url}/v2/models/deidentify/infer", json=good, headers=headers("classify")
    )
    oip_error(r, 403)
    r = httpx.post(f"{repo_server.url}/v2/models/nope/infer", json=good, headers=headers())
    oip_error(r, 404)
    r = httpx.post(f"{repo_server.url}/v2/models/{MODEL}/versions/42/infer", json=good,
                   headers=headers())
    oip_error(r, 404)
    r = httpx.post(f"{repo_server.url}/v2/models/..%2F..%2Fetc/infer", json=good,
                   headers=headers())
    assert r.status_code == 404
    oip_error(httpx.get(f"{repo_server.url}/v2/nowhere", headers=headers()), 404)
    # a deadline already passed (timeout 0 microseconds): 504
    oip_error(post({**good, "parameters": {"timeout": 0}}), 504)
    # tritonclient surfaces the status and message
    with pytest.raises(InferenceServerException) as err:
        c.infer("nope", [text_input(["x"])], headers=headers())
    assert err.value.status() == "404"
    # repository administration needs the admin scope
    r = httpx.post(f"{repo_server.url}/v2/repository/index", headers=headers("classify"))
    oip_error(r, 403)


def test_rollout_under_load(repo_server: Server, model_dir: str) -> None:
    repo: Path = repo_server.repo  # type: ignore[attr-defined]
    url = f"{repo_server.url}/v2/models/{MODEL}/infer"
    body = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2], "data": SENTENCES[:2]}]}
    stop = threading.Event()
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def load() -> None:
        hdrs = headers()
        with httpx.Client(timeout=60) as hc:
            while not stop.is_set():
                r = hc.post(url, json=body, headers=hdrs)
                version = r.json().get("model_version", "") if r.status_code == 200 else r.text
                with lock:
                    seen.append((r.status_code, version))

    def wait_for(pred: Any, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}:\n{repo_server.output()[-3000:]}")

    def served(version: str) -> bool:
        with lock:
            return any(v == version for _, v in seen[-4:])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: served("1"), "version 1 answers")
        copy_version(model_dir, repo / MODEL / "2")  # a plain copy, file by file
        wait_for(lambda: served("2"), "version 2 answers")
        # a broken version 3: unreadable weights
        v3 = repo / MODEL / "3"
        copy_version(model_dir, v3)
        (v3 / "model.safetensors").write_bytes(b"\x00" * 64)

        def failed() -> bool:
            text = httpx.get(repo_server.url + "/metrics").text
            return (
                metric(
                    text,
                    "clinfer_gateway_model_loads_total",
                    f'model="{MODEL}",version="3",outcome="failed"',
                    default=0.0,
                )
                >= 1
            )

        wait_for(failed, "version 3 to fail")
        n = len(seen)
        wait_for(lambda: len(seen) > n + 20, "more answers after the failure")
    finally:
        stop.set()
        for t in threads:
            t.join()
    statuses = {s for s, _ in seen}
    assert statuses == {200}, [x for x in seen if x[0] != 200][:5]
    versions = [v for _, v in seen]
    first2 = versions.index("2")
    assert set(versions[:first2]) == {"1"} and set(versions[first2 + 8 :]) == {"2"}
    h = headers()
    c = client(repo_server)
    assert c.is_model_ready(MODEL, "2", headers=dict(h))
    assert not c.is_model_ready(MODEL, "3", headers=dict(h))
    assert not c.is_model_ready(MODEL, "1", headers=dict(h))  # retired by the policy (latest 1)
    assert c.is_server_ready()
    index = {(m["name"], m["version"]): m for m in c.get_model_repository_index(headers=dict(h))}
    assert index[(MODEL, "2")]["state"] == "READY"
    assert index[(MODEL, "3")]["state"] == "UNAVAILABLE"
    # metrics: each family once, labelled by model and version; on the metrics port too
    text = httpx.get(repo_server.url + "/metrics").text
    assert text.count("# TYPE clinfer_batcher_batch_size histogram") == 1
    assert metric(text, "clinfer_batcher_batch_size_count", f'model="{MODEL}",version="2"') > 0
    port = repo_server.metrics_port  # type: ignore[attr-defined]
    other = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "clinfer_gateway_model_versions_serving" in other
    out = repo_server.output()
    assert "version 3 failed to load" in out
    for canary in CANARIES:
        assert canary not in out


def test_grpc_with_tritonclient(repo_server: Server) -> None:
    grpcclient = pytest.importorskip("tritonclient.grpc")
    port = repo_server.grpc_port  # type: ignore[attr-defined]
    c = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    h = {"authorization": headers()["Authorization"]}  # gRPC metadata keys are lower case
    assert c.is_server_live() and c.is_server_ready()
    assert c.get_server_metadata(headers=dict(h)).name == "clinfer"
    assert c.is_model_ready(MODEL, headers=dict(h))
    md = c.get_model_metadata(MODEL, headers=dict(h))
    assert [o.name for o in md.outputs] == ["LABEL", "SCORE", "LOGITS"]
    inp = grpcclient.InferInput("TEXT", [len(SENTENCES)], "BYTES")
    inp.set_data_from_numpy(np.array([t.encode() for t in SENTENCES], dtype=object))
    res = c.infer(MODEL, [inp], headers=dict(h), request_id="g-1")
    assert [x.decode() for x in res.as_numpy("LABEL")] == v1_labels(repo_server, SENTENCES)
    assert res.as_numpy("LOGITS").shape == (len(SENTENCES), 2)
    assert res.get_response().id == "g-1"
    only = c.infer(
        MODEL, [inp], outputs=[grpcclient.InferRequestedOutput("SCORE")], headers=dict(h)
    )
    assert [o.name for o in only.get_response().outputs] == ["SCORE"]
    d = grpcclient.InferInput("TEXT", [1], "BYTES")
    d.set_data_from_numpy(np.array([NOTE.encode()], dtype=object))
    red = c.infer("deidentify", [d], headers=dict(h)).as_numpy("REDACTED")[0].decode()
    for canary in CANARIES:
        assert canary not in red
    for call, code in [
        (lambda: c.infer("nope", [inp], headers=dict(h)), "StatusCode.NOT_FOUND"),
        (lambda: c.infer(MODEL, [inp]), "StatusCode.UNAUTHENTICATED"),
        (lambda: c.infer(MODEL, [inp], headers={"authorization": headers("deidentify")["Authorization"]}), "StatusCode.PERMISSION_DENIED"),
    ]:
        with pytest.raises(InferenceServerException) as err:
            call()
        assert err.value.status() == code, (err.value.status(), err.value.message())
    bad = grpcclient.InferInput("TEXT", [1], "FP32")
    bad.set_data_from_numpy(np.array([1.0], dtype=np.float32))
    with pytest.raises(InferenceServerException) as err:
        c.infer(MODEL, [bad], headers=dict(h))
    assert err.value.status() == "StatusCode.INVALID_ARGUMENT"
    c.close()


def test_cli_help_and_bad_settings(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "clinfer.gateway", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0
    for opt in OPTIONS:
        assert opt.env in r.stdout, opt.env
        if opt.flag:
            assert opt.flag in r.stdout
    script = Path(sys.executable).parent / "clinfer-gateway"
    assert script.exists(), "the console script is installed with the wheel"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINFER_")}
    r = subprocess.run(
        [str(script), "--model", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**env, "CLINFER_JWT_HS256_KEY": HS_KEY, "CLINFER_MAX_WAIT_MS": "1e300"},
    )
    assert r.returncode == 2 and "CLINFER_MAX_WAIT_MS" in r.stderr, r.stderr
    r = subprocess.run(
        [str(script)], capture_output=True, text=True, env={**env, "CLINFER_JWT_HS256_KEY": HS_KEY}
    )
    assert r.returncode == 2 and "--model" in r.stderr, r.stderr


# ----------------------------------------------------------------------------------------------
# The repository rules, in process with fake pipelines
# ----------------------------------------------------------------------------------------------


class VersionedFake(FakePipeline):
    def __init__(self, spec: gw_models.ModelSpec) -> None:
        super().__init__()
        self.spec = spec

    def metrics(self) -> str:
        return "# TYPE clinfer_fake counter\nclinfer_fake_total 1\n# EOF\n"


def fake_version(path: Path, weights: bytes = b"weights") -> None:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"id2label": {"0": "NEG", "1": "POS"}}))
    (path / "model.safetensors").write_bytes(weights)


def manager(repo: Path, fail: Sequence[int] = ()) -> gw_models.ModelManager:
    def factory(spec: gw_models.ModelSpec) -> gw_models.PipelineLike:
        if (Path(spec.path) / "broken").exists() or spec.version in fail:
            raise clinfer.ModelLoadError("cannot load the model")
        return VersionedFake(spec)

    settings = Settings(jwt_hs256_key=HS_KEY.encode(), model_repository=str(repo))
    return gw_models.ModelManager(settings, factory, HttpMetrics())


def serving(m: gw_models.ModelManager, name: str) -> list[int]:
    return sorted(m.models[name].serving) if name in m.models else []


def test_repository_versions_policies_and_failures(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fake_version(repo / "a" / "1")
    fake_version(repo / "a" / "2")
    m = manager(repo)
    m.reconcile()
    assert serving(m, "a") == [2]  # latest 1 by default
    assert m.get("a").version == 2 and m.get("a", "2").version == 2
    with pytest.raises(Exception) as err:
        m.get("a", "1")
    assert getattr(err.value, "status", None) == 503  # on disk, not serving
    with pytest.raises(Exception) as err:
        m.get("a", "7")
    assert getattr(err.value, "status", None) == 404
    (repo / "a" / "clinfer.json").write_text(json.dumps({"version_policy": {"all": {}}}))
    m.reconcile()  # settings changed: reload; all versions now
    assert serving(m, "a") == [1, 2]
    # a broken new version never replaces what serves, and is not retried until it changes
    fake_version(repo / "a" / "3")
    (repo / "a" / "3" / "broken").write_text("")
    (repo / "a" / "clinfer.json").write_text(
        json.dumps({"version_policy": {"specific": {"versions": [3]}}})
    )
    m.reconcile()  # new files: not loaded until they are the same on two scans
    m.reconcile()
    assert serving(m, "a") == [1, 2]
    loads = m.metrics.model_loads.labels("a", "3", "failed")._value.get()
    assert loads == 1
    m.reconcile()
    assert m.metrics.model_loads.labels("a", "3", "failed")._value.get() == 1
    (repo / "a" / "3" / "broken").unlink()
    m.reconcile()
    m.reconcile()
    assert serving(m, "a") == [3]
    # a version that disappears stops serving; so does a model
    shutil.rmtree(repo / "a")
    m.reconcile()
    assert "a" not in m.models
    m.close(1.0)


def test_repository_settings_names_and_sha256(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for bad, field in [
        ({"dtype": "f64"}, "dtype"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_wait_ms": float("inf")}, "max_wait_ms"),
        ({"version_policy": {"latest": {"num_versions": True}}}, "num_versions"),
        ({"version_policy": {"newest": {}}}, "version_policy"),
        ({"sha256": {"1": "abc"}}, "sha256.1"),
        ({"scrub": "yes"}, "scrub"),
        ({"unknown_field": 1}, "unknown"),
    ]:
        with pytest.raises(gw_repo.RepositoryError, match=field) as err:
            gw_repo.parse_config(bad, "m/clinfer.json")
        assert "m/clinfer.json" in str(err.value)
    # names: traversal, hidden, reserved, odd; versions: only 1, 2, ...; symlinks out refused
    outside = tmp_path / "outside"
    fake_version(outside / "1")
    fake_version(repo / "good" / "1")
    fake_version(repo / "good" / "01")
    fake_version(repo / "good" / "latest")
    (repo / "good" / "5").symlink_to(outside / "1")
    (repo / "linked").symlink_to(outside)
    fake_version(repo / ".hidden" / "1")
    fake_version(repo / "deidentify" / "1")
    fake_version(repo / "bad name" / "1")
    models, problems = gw_repo.scan(str(repo))
    assert set(models) == {"good"}
    assert set(models["good"].versions) == {1}
    assert len(problems) >= 5
    # unusable settings: what serves keeps serving
    m = manager(repo)
    m.reconcile()
    assert serving(m, "good") == [1]
    (repo / "good" / "clinfer.json").write_text("{broken")
    m.reconcile()
    assert serving(m, "good") == [1] and m.models["good"].problem
    # sha256: a mismatch never serves; the right digest does
    weights = (repo / "good" / "1" / "model.safetensors").read_bytes()
    import hashlib

    right = hashlib.sha256(weights).hexdigest()
    fake_version(repo / "s" / "1")
    (repo / "s" / "clinfer.json").write_text(json.dumps({"sha256": {"1": "0" * 64}}))
    m.reconcile()  # new: waits a scan for its files to settle
    m.reconcile()
    assert serving(m, "s") == []
    assert m.metrics.model_loads.labels("s", "1", "failed")._value.get() == 1
    assert not m.is_ready()  # a model without any version serving
    (repo / "s" / "clinfer.json").write_text(json.dumps({"sha256": {"1": right}}))
    m.reconcile()
    assert serving(m, "s") == [1]
    # explicit unload and load
    m.unload("s")
    assert "s" not in m.models
    m.reconcile()
    assert "s" not in m.models  # stays unloaded across scans
    m.load("s")
    assert serving(m, "s") == [1]
    m.close(1.0)


def test_several_models_share_one_exposition(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    fake_version(repo / "a" / "1")
    fake_version(repo / "b" / "1")
    fake_version(repo / "b" / "2")
    (repo / "b" / "clinfer.json").write_text(json.dumps({"version_policy": {"all": {}}}))
    m = manager(repo)
    m.reconcile()
    m.metrics.attach_pipelines(
        lambda: [(sv.name, str(sv.version), sv.pipeline.metrics()) for sv in m.serving()]
    )
    text = m.metrics.render()
    assert text.count("# TYPE clinfer_fake counter") == 1, text
    for labels in ('model="a",version="1"', 'model="b",version="1"', 'model="b",version="2"'):
        assert metric(text, "clinfer_fake_total", labels) == 1.0
    assert metric(text, "clinfer_gateway_model_versions_serving", 'model="b"') == 2.0
    m.close(1.0)


def test_gateway_readme_block_runs_as_written(repo_server: Server) -> None:
    """The gateway README's tritonclient block, executed against this server: only the
    address and the model name change (and ``token`` is given, as the README says)."""
    readme = Path(__file__).resolve().parents[1] / "src" / "clinfer" / "gateway" / "README.md"
    blocks = [
        b
        for b in readme.read_text().split("```python\n")[1:]
        if "tritonclient.http" in b.split("```")[0]
    ]
    assert len(blocks) == 1, "the README's tritonclient block moved"
    code = blocks[0].split("```")[0]
    assert "127.0.0.1:8000" in code and '"clinfer-demo-sst2"' in code
    code = code.replace("127.0.0.1:8000", repo_server.url.removeprefix("http://"))
    code = code.replace('"clinfer-demo-sst2"', repr(MODEL))
    printed: list[tuple[Any, ...]] = []
    namespace: dict[str, Any] = {"token": token("classify"), "print": lambda *a: printed.append(a)}
    exec(compile(code, str(readme), "exec"), namespace)
    (labels, scores, logits), = printed
    assert [x.decode() if isinstance(x, bytes) else x for x in labels] == ["POSITIVE", "NEGATIVE"]
    assert scores.shape == (2,) and logits.shape == (2, 2)
