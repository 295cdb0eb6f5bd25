"""deploy/: the container definitions and the Kubernetes manifests, checked without a cluster.

- every kustomization (the base, the cpu and cuda overlays, and the cpu overlay with the keda and
  prometheus-operator components) renders with ``kubectl kustomize``;
- every rendered document validates against the Kubernetes OpenAPI schemas of pinned versions
  (``kubernetes-validate``, strict); the CRDs it has no schema for (KEDA's ScaledObject, the
  Prometheus Operator's PodMonitor) have their required fields checked here;
- yamllint passes on deploy/ (``deploy/.yamllint``);
- the manifests agree with each other and with the gateway (probes, ports, graceful-shutdown
  budget, settings names, secrets only by reference, the autoscaling policy);
- a real gateway started with the rendered ConfigMap serves the probe paths on the ``http``
  port, the metrics on the ``metrics`` port and gRPC on the ``grpc`` port, and exports every
  metric the HPA, prometheus-adapter's rules and the KEDA triggers name.

kubectl (with its built-in kustomize) must be on PATH or beside the interpreter:
``scripts/install-deploy-tools.sh`` installs it where it is missing; without it the tests fail.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

IN_CI = os.environ.get("CI") in ("true", "1")


def need(module: str) -> Any:
    """Imports ``module``; when it is missing, skips the test, or fails it under CI (where
    scripts/python-tests.sh installs it)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if IN_CI:
            pytest.fail(f"{module} is not installed ({e}); CI installs it")
        pytest.skip(f"{module} is not installed ({e})", allow_module_level=True)


yaml = need("yaml")  # PyYAML: a dependency of kubernetes-validate and yamllint

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
KUBERNETES_VERSIONS = ("1.31.0", "1.35.0")  # the oldest and a recent version we promise
KUSTOMIZATIONS = ("base", "overlays/cpu", "overlays/cuda")
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
HS_KEY = "deploy-tests-hs256-secret-0123456789abcdef"

Doc = dict[str, Any]


def _kubectl() -> str:
    """kubectl on PATH, or beside this interpreter (where scripts/install-deploy-tools.sh puts
    it when PATH has none)."""
    path = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(
            "kubectl is not on PATH: run scripts/install-deploy-tools.sh (installs kubectl, "
            "which has kustomize built in)"
        )
    return path


def render(directory: Path) -> list[Doc]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"kubectl kustomize {directory} failed:\n{out.stderr}"
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert docs, f"{directory} rendered nothing"
    return docs


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    out = {name: render(K8S / name) for name in KUSTOMIZATIONS}
    # The components are opt-in: render them on a copy, in an overlay of the cpu one.
    tree = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(K8S, tree)
    extra = tree / "overlays" / "cpu-keda"
    extra.mkdir()
    (extra / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: clinfer\n"
        "resources: [../cpu]\n"
        "components: [../../components/keda, ../../components/prometheus-operator]\n"
    )
    out["overlays/cpu+keda"] = render(extra)
    return out


def one(docs: list[Doc], kind: str, name: Optional[str] = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs: list[Doc]) -> Doc:
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    return dict(spec["containers"][0])


def config(docs: list[Doc]) -> dict[str, str]:
    cms = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(cms) == 1
    return dict(cms[0]["data"])


def port_of(c: Doc, name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    return int(ports[name])


# ----------------------------------------------------------------------------------------------
# Rendering, schemas, lint
# ----------------------------------------------------------------------------------------------


def test_every_kustomization_renders_the_expected_objects(rendered: dict[str, list[Doc]]) -> None:
    want = {"Namespace", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Deployment",
            "Service", "PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler"}
    for name in KUSTOMIZATIONS:
        assert {d["kind"] for d in rendered[name]} == want, name
    keda = {d["kind"] for d in rendered["overlays/cpu+keda"]}
    assert keda == (want - {"HorizontalPodAutoscaler"}) | {"ScaledObject", "PodMonitor"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_documents_validate_against_the_kubernetes_schemas(
    rendered: dict[str, list[Doc]], version: str
) -> None:
    kv = need("kubernetes_validate")
    checked = 0
    for name, docs in rendered.items():
        for d in docs:
            if d["apiVersion"].startswith(CRD_GROUPS):
                continue  # no schema in kubernetes-validate: see test_crds_have_their_required_fields
            try:
                kv.validate(d, version, strict=True)
            except kv.ValidationError as e:
                pytest.fail(f"{name}: {d['kind']}/{d['metadata']['name']} (k8s {version}): {e.message}")
            checked += 1
    assert checked >= 3 * 9


def test_crds_have_their_required_fields(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["overlays/cpu+keda"]
    so = one(docs, "ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["metadata"]["name"] and so["metadata"]["namespace"] == "clinfer"
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == one(docs, "Deployment")["metadata"]["name"]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert isinstance(spec["triggers"], list) and spec["triggers"]
    for t in spec["triggers"]:
        assert isinstance(t["type"], str) and isinstance(t["metadata"], dict), t
        assert t.get("metricType", "AverageValue") in ("AverageValue", "Value", "Utilization"), t
        if t["type"] == "prometheus":
            for key in ("serverAddress", "query", "threshold"):
                assert isinstance(t["metadata"][key], str) and t["metadata"][key], (key, t)
            float(t["metadata"]["threshold"])  # KEDA parses it as a number
        if t["type"] == "cpu":
            assert t["metricType"] == "Utilization" and int(t["metadata"]["value"]) > 0
    for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
        assert isinstance(spec[key], int) and spec[key] >= 0, key
    pm = one(docs, "PodMonitor")
    assert pm["apiVersion"] == "monitoring.coreos.com/v1"
    assert pm["spec"]["selector"]["matchLabels"]
    assert [e["port"] for e in pm["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_yamllint_passes_on_deploy() -> None:
    need("yamllint")
    out = subprocess.run(
        [sys.executable, "-m", "yamllint", "-s", "-c", str(DEPLOY / ".yamllint"), str(DEPLOY)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# ----------------------------------------------------------------------------------------------
# The manifests agree with each other and with the gateway's settings
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS[1:])
def test_deployment_probes_security_and_shutdown_budget(
    rendered: dict[str, list[Doc]], name: str
) -> None:
    docs = rendered[name]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    c = container(docs)
    cfg = config(docs)
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= float(cfg["CLINFER_LOAD_TIMEOUT_S"])

    # SIGTERM comes after preStop; then the drain, uvicorn's graceful close, and the models'.
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    args = c.get("args", [])
    graceful = float(args[args.index("--timeout-graceful-shutdown") + 1])
    drain = float(cfg["CLINFER_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + drain + graceful

    assert pod["automountServiceAccountToken"] is False
    sa = one(docs, "ServiceAccount", pod["serviceAccountName"])
    assert sa["automountServiceAccountToken"] is False
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRoleBinding")]
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert cfg["CLINFER_MODEL_REPOSITORY"] in mounts and mounts[cfg["CLINFER_MODEL_REPOSITORY"]]["readOnly"]
    assert "/tmp" in mounts  # the only writable path
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][key]), key
    if name == "overlays/cuda":
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert cfg["CLINFER_DEVICE"] == "cuda"
    else:
        assert cfg["CLINFER_DEVICE"] == "cpu"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_settings_are_real_and_secrets_are_references(rendered: dict[str, list[Doc]], name: str) -> None:
    from clinfer.gateway.settings import OPTIONS, Settings

    docs = rendered[name]
    by_env = {o.env: o for o in OPTIONS}
    cfg = config(docs)
    unknown = set(cfg) - set(by_env)
    assert not unknown, f"not gateway settings: {unknown}"
    assert not [k for k in cfg if by_env[k].kind == "secret" or "JWT" in k]
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret (and no key) in the manifests"
    c = container(docs)
    env = {e["name"]: e for e in c.get("env", [])}
    key = env["CLINFER_JWT_HS256_KEY"]
    assert "value" not in key and set(key["valueFrom"]) == {"secretKeyRef"}
    # the ConfigMap parses: the gateway would start with it (plus the key)
    Settings.from_env({**cfg, "CLINFER_JWT_HS256_KEY": HS_KEY})
    ref = c["envFrom"][0]["configMapRef"]["name"]
    assert ref == [d for d in docs if d["kind"] == "ConfigMap"][0]["metadata"]["name"]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_ports_service_network_policy_and_pdb_agree(rendered: dict[str, list[Doc]], name: str) -> None:
    docs = rendered[name]
    c = container(docs)
    cfg = config(docs)
    assert port_of(c, "http") == int(cfg["CLINFER_PORT"])
    assert port_of(c, "metrics") == int(cfg["CLINFER_METRICS_PORT"])
    assert port_of(c, "grpc") == int(cfg["CLINFER_GRPC_PORT"])
    assert cfg["CLINFER_HOST"] == "0.0.0.0"
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return all(pod_labels.get(k) == v for k, v in selector.items())

    svc = one(docs, "Service")
    assert selects(svc["spec"]["selector"])
    assert {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {
        "http": "http", "grpc": "grpc", "metrics": "metrics"
    }
    pdb = one(docs, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"]) and pdb["spec"]["minAvailable"] == 1

    np = one(docs, "NetworkPolicy")
    assert selects(np["spec"]["podSelector"]["matchLabels"])
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    rules = {}
    for rule in np["spec"]["ingress"]:
        (peer,) = rule["from"]
        assert set(peer) == {"namespaceSelector"}, "only whole namespaces, by name"
        ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        rules[ns] = sorted(p["port"] for p in rule["ports"])
    assert rules == {"ingress-nginx": ["grpc", "http"], "monitoring": ["metrics"]}


def _hpa_behavior(docs: list[Doc]) -> Doc:
    return dict(one(docs, "HorizontalPodAutoscaler")["spec"]["behavior"])


def test_autoscaling_policy_hpa_and_keda(rendered: dict[str, list[Doc]]) -> None:
    for name in KUSTOMIZATIONS:
        hpa = one(rendered[name], "HorizontalPodAutoscaler")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
        assert hpa["scaleTargetRef"]["name"] == one(rendered[name], "Deployment")["metadata"]["name"]
        pods = [m["pods"]["metric"]["name"] for m in hpa["metrics"] if m["type"] == "Pods"]
        assert pods == ["clinfer_batcher_queue_requests", "clinfer_batcher_queue_time_seconds"]
        cpu = [m for m in hpa["metrics"] if m["type"] == "Resource"]
        assert cpu and cpu[0]["resource"]["name"] == "cpu"
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
        # the queue target is one full batch per pod
        target = hpa["metrics"][0]["pods"]["target"]["averageValue"]
        assert int(target) == int(config(rendered[name])["CLINFER_MAX_BATCH_SIZE"])
    docs = rendered["overlays/cpu+keda"]
    so = one(docs, "ScaledObject")["spec"]
    hpa = one(rendered["overlays/cpu"], "HorizontalPodAutoscaler")["spec"]
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (hpa["minReplicas"], hpa["maxReplicas"])
    assert so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == hpa["behavior"]
    kinds = [t["type"] for t in so["triggers"]]
    assert kinds == ["prometheus", "prometheus", "cpu"]
    assert float(so["triggers"][0]["metadata"]["threshold"]) == float(
        hpa["metrics"][0]["pods"]["target"]["averageValue"]
    )
    assert float(so["triggers"][1]["metadata"]["threshold"]) == 0.05  # HPA's 50m
    assert hpa["metrics"][1]["pods"]["target"]["averageValue"] == "50m"
    assert so["triggers"][2]["metadata"]["value"] == str(hpa["metrics"][2]["resource"]["target"][
        "averageUtilization"])


# ----------------------------------------------------------------------------------------------
# The container definitions
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["Containerfile", "Containerfile.cuda"])
def test_containerfiles(file: str, rendered: dict[str, list[Doc]]) -> None:
    text = (DEPLOY / file).read_text()
    images = re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.M)
    assert [n for n, _ in images] == ["BUILD_IMAGE", "RUNTIME_IMAGE"]
    for _, ref in images:
        assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", ref), f"not pinned by digest: {ref}"
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms == ["${BUILD_IMAGE}", "${RUNTIME_IMAGE}"], "two stages, from the pinned ARGs"
    assert "maturin build --release" in text and "COPY --from=wheel /wheels" in text
    assert re.search(r'^ENTRYPOINT \["clinfer-gateway"\]$', text, re.M)
    user = re.findall(r"^USER (\d+):(\d+)$", text, re.M)
    pod = one(rendered["overlays/cpu"], "Deployment")["spec"]["template"]["spec"]
    assert user == [(str(pod["securityContext"]["runAsUser"]), str(pod["securityContext"]["runAsGroup"]))]
    cfg = config(rendered["overlays/cpu"])
    assert re.search(rf'^VOLUME \["{cfg["CLINFER_MODEL_REPOSITORY"]}"\]$', text, re.M)
    exposed = sorted(int(p) for p in re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split())
    assert exposed == sorted(int(cfg[k]) for k in ("CLINFER_PORT", "CLINFER_GRPC_PORT", "CLINFER_METRICS_PORT"))
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "compileall" in text  # read-only root fs
    if file.endswith(".cuda"):
        assert "--features clinfer/cuda" in text and "-devel-" in images[0][1]
        # clinfer/cuda is what turns on clinfer-core/cuda, and the bindings depend on clinfer
        root = (ROOT / "Cargo.toml").read_text()
        assert re.search(r'^cuda = \["clinfer-core/cuda"\]', root, re.M)
        assert re.search(r"^clinfer = \{ path = \"\.\.\"", (ROOT / "bindings" / "Cargo.toml").read_text(), re.M)


# ----------------------------------------------------------------------------------------------
# Against a real gateway started with the rendered settings
# ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def referenced_metrics(rendered: dict[str, list[Doc]]) -> set[str]:
    """Every clinfer_* series name in the adapter rules and the KEDA queries."""
    text = (K8S / "prometheus-adapter" / "values.yaml").read_text()
    rules = yaml.safe_load(text)["rules"]["custom"]
    names: set[str] = set()
    for r in rules:
        names.update(re.findall(r"\bclinfer_\w+", r["seriesQuery"] + " " + r["metricsQuery"]))
    for t in one(rendered["overlays/cpu+keda"], "ScaledObject")["spec"]["triggers"]:
        if t["type"] == "prometheus":
            names.update(re.findall(r"\bclinfer_\w+", t["metadata"]["query"]))
    return names


@pytest.fixture(scope="module")
def live_gateway(
    rendered: dict[str, list[Doc]], model_dir: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    httpx = need("httpx")
    need("uvicorn")
    need("prometheus_client")
    cfg = config(rendered["overlays/cpu"])
    tmp = tmp_path_factory.mktemp("deploy-gateway")
    repo = tmp / "models"
    shutil.copytree(model_dir, repo / Path(model_dir).name / "1")
    ports = {k: free_port() for k in ("CLINFER_PORT", "CLINFER_METRICS_PORT", "CLINFER_GRPC_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINFER_")}
    # The rendered settings, with loopback, free ports and a local repository for the test.
    env.update(cfg, CLINFER_HOST="127.0.0.1", CLINFER_MODEL_REPOSITORY=str(repo),
               CLINFER_JWT_HS256_KEY=HS_KEY, PYTHONUNBUFFERED="1",
               **{k: str(v) for k, v in ports.items()})
    log_path = tmp / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "clinfer.gateway"], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{ports['CLINFER_PORT']}"
    try:
        deadline = time.monotonic() + 180
        with httpx.Client(base_url=url, timeout=5.0) as c:
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"the gateway exited early:\n{log_path.read_text()[-3000:]}")
                try:
                    if c.get("/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the gateway was not ready:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        yield {"url": url, "ports": ports, "proc": proc, "httpx": httpx}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_probe_paths_ports_and_metric_names_are_what_the_gateway_serves(
    rendered: dict[str, list[Doc]], live_gateway: dict[str, Any]
) -> None:
    import jwt
    from prometheus_client.parser import text_string_to_metric_families

    httpx = live_gateway["httpx"]
    ports = live_gateway["ports"]
    # the container port names map to the settings: http -> CLINFER_PORT, and so on
    by_name = {"http": "CLINFER_PORT", "metrics": "CLINFER_METRICS_PORT", "grpc": "CLINFER_GRPC_PORT"}
    for name in KUSTOMIZATIONS[1:]:
        c = container(rendered[name])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = c[probe]["httpGet"]
            url = f"http://127.0.0.1:{ports[by_name[get['port']]]}{get['path']}"
            assert httpx.get(url, timeout=10).status_code == 200, (name, probe, url)

    # one classification, so that every batcher family has samples
    claims = {"sub": "svc-deploy", "exp": int(time.time()) + 300, "scope": "classify"}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, HS_KEY, algorithm='HS256')}"}
    r = httpx.post(f"{live_gateway['url']}/v1/classify", json={"text": "a fine film"},
                   headers=headers, timeout=60)
    assert r.status_code == 200, r.text

    # the metrics port serves the registry (Prometheus text format)
    text = httpx.get(f"http://127.0.0.1:{ports['CLINFER_METRICS_PORT']}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {s.name for f in families.values() for s in f.samples}
    wanted = referenced_metrics(rendered)
    assert {"clinfer_batcher_queue_requests", "clinfer_batcher_queue_time_seconds_sum",
            "clinfer_batcher_queue_time_seconds_count"} <= wanted
    missing = wanted - samples
    assert not missing, f"named in deploy/ but not exported by the gateway: {missing}"
    assert families["clinfer_batcher_queue_requests"].type == "gauge"
    assert families["clinfer_batcher_queue_time_seconds"].type == "histogram"
    # per-pod series carry model and version: the adapter and KEDA sum them
    q = [s for s in families["clinfer_batcher_queue_requests"].samples]
    assert q and all({"model", "version"} <= set(s.labels) for s in q)

    # the HPA's custom metrics are the adapter's outputs, named as the gateway's families
    rules = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())["rules"]["custom"]
    outputs = {r["name"]["as"] for r in rules}
    for name in KUSTOMIZATIONS:
        hpa = one(rendered[name], "HorizontalPodAutoscaler")["spec"]
        for m in hpa["metrics"]:
            if m["type"] == "Pods":
                assert m["pods"]["metric"]["name"] in outputs
                assert m["pods"]["metric"]["name"] in families
    for r in rules:
        assert re.fullmatch(r["name"]["matches"].strip("^$"), r["seriesQuery"].split("{")[0])

    # gRPC answers on the grpc port
    grpcclient = need("tritonclient.grpc")
    client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{ports['CLINFER_GRPC_PORT']}")
    try:
        assert client.is_server_live() and client.is_server_ready()
    finally:
        client.close()
