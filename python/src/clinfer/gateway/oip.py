"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API) under ``/v2``, with
Triton's binary tensor data extension and its model repository extension.

Models: every classification model of the repository takes the ``BYTES`` input ``TEXT``
(shape ``[N]``, or ``[N, 1]``) and returns ``LABEL`` (``BYTES [N]``), ``SCORE`` (``FP32 [N]``)
and ``LOGITS`` (``FP32 [N, C]``); the built-in model ``deidentify`` returns ``REDACTED``
(``BYTES [N]``) and ``PHI_COUNTS`` (``BYTES [N]``, a JSON object of counts per kind).

Binary tensor data: a request whose ``Inference-Header-Content-Length`` header is set holds
that many bytes of JSON, then each input with a ``binary_data_size`` parameter, in order
(``BYTES`` elements as a 4-byte little-endian length and the bytes). Outputs are binary when
the output asks (``"parameters": {"binary_data": true}``) or the request does
(``"binary_data_output": true``, what ``tritonclient.http`` sends when it names no outputs);
the answer then carries ``Inference-Header-Content-Length`` too. The request parameter
``timeout`` (microseconds, as Triton's) is the deadline.
"""

import json
import math
import struct
from collections import Counter as CountDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, SecurityScopes
from starlette.concurrency import run_in_threadpool

import clinfer

from .audit import audit_record
from .auth import Principal, bearer_scheme, require_scopes, verify_bearer
from .errors import ApiError
from .models import classify_on
from .repository import NAME_RE
from .state import Gateway, get_gateway

HEADER = "inference-header-content-length"
DEIDENTIFY = "deidentify"
CLASSIFY_OUTPUTS = ("LABEL", "SCORE", "LOGITS")
DEIDENTIFY_OUTPUTS = ("REDACTED", "PHI_COUNTS")
MAX_JSON_HEADER = 64 << 20

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


class BadRequest(ApiError):
    """A request the protocol refuses (400); the message names fields, never values."""

    def __init__(self, message: str) -> None:
        super().__init__(400, "invalid_request", message)


# ---------------------------------------------------------------------------------------------
# Tensors: parsing requests, building answers
# ---------------------------------------------------------------------------------------------


@dataclass
class Requested:
    name: str
    binary: bool


@dataclass
class InferRequest:
    id: Optional[str]
    texts: List[str]
    outputs: Optional[List[Requested]]
    binary_output: bool
    deadline_ms: Optional[float]


def _split_body(body: bytes, header_len: Optional[str]) -> Tuple[Any, bytes]:
    if header_len is None:
        json_part, binary = body, b""
    else:
        try:
            n = int(header_len)
        except ValueError:
            raise BadRequest("Inference-Header-Content-Length must be an integer") from None
        if not 0 < n <= len(body) or n > MAX_JSON_HEADER:
            raise BadRequest("Inference-Header-Content-Length does not fit the body")
        json_part, binary = body[:n], body[n:]
    try:
        return json.loads(json_part), binary
    except (ValueError, RecursionError):
        raise BadRequest("the request header is not valid JSON") from None


def _shape(raw: Any) -> List[int]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
        raise BadRequest("input TEXT must have shape [N] or [N, 1]")
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in raw):
        raise BadRequest("input TEXT: shape dimensions must be non-negative integers")
    if len(raw) == 2 and raw[1] != 1:
        raise BadRequest("input TEXT must have shape [N] or [N, 1]")
    return list(raw)


def _flatten(data: Any, out: List[Any], depth: int = 0) -> None:
    if depth > 3:
        raise BadRequest("input TEXT: data is nested too deeply")
    for item in data:
        if isinstance(item, list):
            _flatten(item, out, depth + 1)
        else:
            out.append(item)


def _decode_bytes(raw: bytes, n: int) -> List[bytes]:
    items: List[bytes] = []
    pos = 0
    for _ in range(n):
        if pos + 4 > len(raw):
            raise BadRequest("input TEXT: binary data ends early")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise BadRequest("input TEXT: binary data ends early")
        items.append(raw[pos : pos + length])
        pos += length
    if pos != len(raw):
        raise BadRequest("input TEXT: binary data is longer than its shape")
    return items


def parse_infer(body: bytes, header_len: Optional[str], max_texts: int) -> InferRequest:
    """Parses and checks an infer request (JSON or with binary tensors)."""
    head, binary = _split_body(body, header_len)
    if not isinstance(head, dict):
        raise BadRequest("the request must be a JSON object")
    rid = head.get("id")
    if rid is not None and not isinstance(rid, str):
        raise BadRequest("id must be a string")
    params = head.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest("parameters must be an object")
    inputs = head.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("inputs must be a non-empty list")
    texts: Optional[List[str]] = None
    offset = 0
    for inp in inputs:
        if not isinstance(inp, dict):
            raise BadRequest("each input must be an object")
        iparams = inp.get("parameters") or {}
        if not isinstance(iparams, dict):
            raise BadRequest("input parameters must be an object")
        size = iparams.get("binary_data_size")
        raw: Optional[bytes] = None
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise BadRequest("binary_data_size must be a non-negative integer")
            if offset + size > len(binary):
                raise BadRequest("binary_data_size exceeds the binary data")
            raw = binary[offset : offset + size]
            offset += size
        if inp.get("name") != "TEXT":
            raise BadRequest("unexpected input (this model takes one input, TEXT)")
        if texts is not None:
            raise BadRequest("input TEXT is given twice")
        if inp.get("datatype") != "BYTES":
            raise BadRequest("input TEXT must have datatype BYTES")
        shape = _shape(inp.get("shape"))
        n = shape[0]
        if n < 1:
            raise BadRequest("input TEXT must hold at least one element")
        if n > max_texts:
            raise BadRequest(f"input TEXT: at most {max_texts} elements per request")
        if raw is not None:
            if "data" in inp:
                raise BadRequest("input TEXT has both data and binary_data_size")
            items: List[Any] = _decode_bytes(raw, n)
        else:
            data = inp.get("data")
            if not isinstance(data, list):
                raise BadRequest("input TEXT needs data (or binary_data_size)")
            items = []
            _flatten(data, items)
            if len(items) != n:
                raise BadRequest("input TEXT: the number of elements does not match its shape")
        texts = []
        for i, item in enumerate(items):
            if isinstance(item, bytes):
                try:
                    texts.append(item.decode("utf-8"))
                except UnicodeDecodeError:
                    raise BadRequest(f"input TEXT: element {i} is not valid UTF-8") from None
            elif isinstance(item, str):
                texts.append(item)
            else:
                raise BadRequest(f"input TEXT: element {i} is not a string")
    if offset != len(binary):
        raise BadRequest("the binary data is longer than the inputs' binary_data_size")
    assert texts is not None
    outputs: Optional[List[Requested]] = None
    binary_output = params.get("binary_data_output") is True
    raw_outputs = head.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list):
            raise BadRequest("outputs must be a list")
        outputs = []
        for o in raw_outputs:
            if not isinstance(o, dict) or not isinstance(o.get("name"), str):
                raise BadRequest("each output must be an object with a name")
            oparams = o.get("parameters") or {}
            if not isinstance(oparams, dict):
                raise BadRequest("output parameters must be an object")
            flag = oparams.get("binary_data")
            outputs.append(Requested(o["name"], binary_output if flag is None else flag is True))
    deadline: Optional[float] = None
    timeout = params.get("timeout")
    if timeout is not None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout < 0
        ):
            raise BadRequest("parameters.timeout must be a non-negative number (microseconds)")
        deadline = float(timeout) / 1000.0
    return InferRequest(rid, texts, outputs, binary_output, deadline)


Tensor = Tuple[str, str, List[int], Union[List[str], List[float]]]


def _bytes_payload(values: Sequence[str]) -> bytes:
    parts = []
    for v in values:
        b = v.encode("utf-8")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def build_response(
    model: str, version: str, req: InferRequest, tensors: List[Tensor], available: Sequence[str]
) -> Response:
    """The infer answer: the selected outputs, JSON or binary as asked."""
    by_name = {t[0]: t for t in tensors}
    if req.outputs is None:
        selected = [Requested(name, req.binary_output) for name in available]
    else:
        selected = req.outputs
        for o in selected:
            if o.name not in by_name:
                raise BadRequest("unknown output requested")
    head: Dict[str, Any] = {"model_name": model, "model_version": version, "outputs": []}
    if req.id is not None:
        head["id"] = req.id
    blobs: List[bytes] = []
    for o in selected:
        name, dtype, shape, data = by_name[o.name]
        out: Dict[str, Any] = {"name": name, "datatype": dtype, "shape": shape}
        if o.binary:
            if dtype == "BYTES":
                blob = _bytes_payload(data)  # type: ignore[arg-type]
            else:
                blob = struct.pack(f"<{len(data)}f", *data)
            out["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            out["data"] = data
        head["outputs"].append(out)
    header = json.dumps(head, separators=(",", ":")).encode()
    if not blobs:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------


async def principal(
    request: Request,
    credentials: Optional[HTTPAuthorizationCredentials] = Security(bearer_scheme),
    gw: Gateway = Depends(get_gateway),
) -> Principal:
    """Any valid bearer token (401 otherwise); routes then ask for their model's scope."""
    p = verify_bearer(gw.verifier, credentials)
    audit_record(request).sub = p.sub
    return p


def need(p: Principal, scope: str) -> None:
    require_scopes(p, SecurityScopes(scopes=[scope]))


def scope_of(name: str) -> str:
    return "deidentify" if name == DEIDENTIFY else "classify"


# ---------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------


@router.get("", summary="Server metadata")
async def server_metadata(p: Principal = Depends(principal)) -> Dict[str, Any]:
    return {
        "name": "clinfer",
        "version": clinfer.__version__,
        "extensions": ["binary_tensor_data", "model_repository"],
    }


@router.get("/health/live", summary="Liveness (no token needed)")
async def health_live() -> Dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", summary="Readiness: every model has a version serving")
async def health_ready(gw: Gateway = Depends(get_gateway)) -> Response:
    if gw.is_ready():
        return JSONResponse({"ready": True})
    return JSONResponse({"error": "not ready"}, status_code=503)


def _classifier_meta(name: str, versions: List[str], labels: int) -> Dict[str, Any]:
    return {
        "name": name,
        "versions": versions,
        "platform": "clinfer_distilbert",
        "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "LABEL", "datatype": "BYTES", "shape": [-1]},
            {"name": "SCORE", "datatype": "FP32", "shape": [-1]},
            {"name": "LOGITS", "datatype": "FP32", "shape": [-1, labels]},
        ],
    }


def _deidentify_meta() -> Dict[str, Any]:
    return {
        "name": DEIDENTIFY,
        "versions": ["1"],
        "platform": "clinfer_deidentify",
        "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "REDACTED", "datatype": "BYTES", "shape": [-1]},
            {"name": "PHI_COUNTS", "datatype": "BYTES", "shape": [-1]},
        ],
    }


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ApiError(404, "not_found", "unknown model")


def _deidentify_version(version: Optional[str]) -> None:
    if version not in (None, "", "1"):
        raise ApiError(404, "not_found", "model deidentify has only version 1")


async def _metadata(
    name: str, version: Optional[str], p: Principal, gw: Gateway
) -> Dict[str, Any]:
    _check_name(name)
    need(p, scope_of(name))
    if name == DEIDENTIFY:
        _deidentify_version(version)
        return _deidentify_meta()
    sv = gw.models.get(name, version)
    entry = gw.models.models[name]
    versions = [str(v) for v in sorted(entry.serving)] if version is None else [str(sv.version)]
    return _classifier_meta(name, versions, sv.num_labels)


@router.get("/models/{name}", summary="Model metadata")
async def model_metadata(
    name: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    return await _metadata(name, None, p, gw)


@router.get("/models/{name}/versions/{version}", summary="Model version metadata")
async def model_version_metadata(
    name: str, version: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    return await _metadata(name, version, p, gw)


async def _ready(name: str, version: Optional[str], p: Principal, gw: Gateway) -> Response:
    _check_name(name)
    need(p, scope_of(name))
    if name == DEIDENTIFY:
        _deidentify_version(version)
        ready = gw.scrubber is not None and not gw.draining
    else:
        try:
            sv = gw.models.get(name, version)
        except ApiError as err:
            if err.status != 503:
                raise
            ready = False
        else:
            ready = sv.pipeline.is_ready() and not gw.draining
    if ready:
        return JSONResponse({"name": name, "ready": True})
    return JSONResponse({"error": "model not ready"}, status_code=503)


@router.get("/models/{name}/ready", summary="Model readiness")
async def model_ready(
    name: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Response:
    return await _ready(name, None, p, gw)


@router.get("/models/{name}/versions/{version}/ready", summary="Model version readiness")
async def model_version_ready(
    name: str, version: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Response:
    return await _ready(name, version, p, gw)


async def _config(name: str, version: Optional[str], p: Principal, gw: Gateway) -> Dict[str, Any]:
    _check_name(name)
    need(p, scope_of(name))
    if name == DEIDENTIFY:
        _deidentify_version(version)
        return {"name": name, "platform": "clinfer_deidentify", "max_batch_size": 0}
    sv = gw.models.get(name, version)
    spec = sv.spec
    return {
        "name": name,
        "platform": "clinfer_distilbert",
        "max_batch_size": spec.max_batch_size,
        "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [-1]}],
        "output": [
            {"name": "LABEL", "data_type": "TYPE_STRING", "dims": [-1]},
            {"name": "SCORE", "data_type": "TYPE_FP32", "dims": [-1]},
            {"name": "LOGITS", "data_type": "TYPE_FP32", "dims": [-1, sv.num_labels]},
        ],
        "version_policy": gw.models.models[name].config.version_policy.describe(),
        "dynamic_batching": {
            "max_queue_delay_microseconds": int(spec.max_wait_ms * 1000),
            "default_queue_policy": {"max_queue_size": spec.queue_capacity},
        },
        "parameters": {
            "scrub": {"string_value": "true" if spec.scrub else "false"},
            "dtype": {"string_value": spec.dtype},
        },
    }


@router.get("/models/{name}/config", summary="Model configuration (Triton's extension)")
async def model_config(
    name: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    return await _config(name, None, p, gw)


@router.get("/models/{name}/versions/{version}/config", summary="Model version configuration")
async def model_version_config(
    name: str, version: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    return await _config(name, version, p, gw)


async def _infer(
    name: str, version: Optional[str], request: Request, p: Principal, gw: Gateway
) -> Response:
    _check_name(name)
    need(p, scope_of(name))
    gw.live(request.scope)
    record = audit_record(request)
    record.model = name
    body = await request.body()
    req = parse_infer(body, request.headers.get(HEADER), gw.settings.max_texts)
    record.texts = len(req.texts)
    if name == DEIDENTIFY:
        _deidentify_version(version)
        record.version = "1"
        scrubber = gw.live_scrubber(request.scope)
        reds = await run_in_threadpool(lambda: [scrubber.redact(t) for t in req.texts])
        counts = [CountDict(s.kind for s in r.spans) for r in reds]
        total: "CountDict[str]" = CountDict()
        for c in counts:
            total.update(c)
        record.phi_counts = dict(total)
        n = len(reds)
        tensors: List[Tensor] = [
            ("REDACTED", "BYTES", [n], [r.text for r in reds]),
            ("PHI_COUNTS", "BYTES", [n], [json.dumps(dict(sorted(c.items()))) for c in counts]),
        ]
        return build_response(name, "1", req, tensors, DEIDENTIFY_OUTPUTS)
    sv, results = await classify_on(gw, name, version, req.texts, gw.deadline(req.deadline_ms))
    record.version = str(sv.version)
    total2: "CountDict[str]" = CountDict()
    for r in results:
        total2.update(r.phi_counts)
    record.phi_counts = dict(total2)
    n = len(results)
    width = len(results[0].logits) if results else max(sv.num_labels, 0)
    logits = [float(x) for r in results for x in r.logits]
    tensors = [
        ("LABEL", "BYTES", [n], [r.label for r in results]),
        ("SCORE", "FP32", [n], [float(r.score) for r in results]),
        ("LOGITS", "FP32", [n, width], logits),
    ]
    return build_response(name, str(sv.version), req, tensors, CLASSIFY_OUTPUTS)


@router.post("/models/{name}/infer", summary="Inference (JSON or binary tensors)")
async def infer(
    name: str,
    request: Request,
    p: Principal = Depends(principal),
    gw: Gateway = Depends(get_gateway),
) -> Response:
    return await _infer(name, None, request, p, gw)


@router.post("/models/{name}/versions/{version}/infer", summary="Inference on one version")
async def infer_version(
    name: str,
    version: str,
    request: Request,
    p: Principal = Depends(principal),
    gw: Gateway = Depends(get_gateway),
) -> Response:
    return await _infer(name, version, request, p, gw)


@router.post("/repository/index", summary="Models and versions in the repository")
async def repository_index(
    p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> List[Dict[str, str]]:
    need(p, "admin")
    ready = "READY" if gw.scrubber is not None else "UNAVAILABLE"
    return [{"name": DEIDENTIFY, "version": "1", "state": ready, "reason": ""}] + gw.models.index()


@router.post("/repository/models/{name}/load", summary="Load or reload a model now")
async def repository_load(
    name: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    need(p, "admin")
    _check_name(name)
    if name == DEIDENTIFY:
        return {}
    gw.live()
    await run_in_threadpool(gw.models.load, name)
    return {}


@router.post("/repository/models/{name}/unload", summary="Stop serving a model")
async def repository_unload(
    name: str, p: Principal = Depends(principal), gw: Gateway = Depends(get_gateway)
) -> Dict[str, Any]:
    need(p, "admin")
    _check_name(name)
    if name == DEIDENTIFY:
        raise BadRequest("the built-in model deidentify cannot be unloaded")
    await run_in_threadpool(gw.models.unload, name)
    return {}
