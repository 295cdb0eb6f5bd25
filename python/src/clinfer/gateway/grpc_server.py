"""The Open Inference Protocol over gRPC (Triton's ``inference.GRPCInferenceService``), on its
own port (``--grpc-port``, 8001 as Triton's), for ``tritonclient.grpc``.

The service definition is the protocol's published ``.proto``, compiled: the
``tritonclient[grpc]`` package ships it (``tritonclient.grpc.service_pb2`` and
``service_pb2_grpc``), so this module needs ``grpcio`` and ``tritonclient[grpc]`` (``pip install
"clinfer[gateway,grpc]"``); without them the gateway serves HTTP only and says so at start.

Served: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer (inputs
as ``raw_input_contents`` or ``bytes_contents``, outputs as ``raw_output_contents``, as
Triton answers), RepositoryIndex. The rest (streaming, statistics, shared memory, tracing)
answers UNIMPLEMENTED. Auth is the same bearer JWT, in the ``authorization`` metadata; errors
carry the gRPC status of the HTTP one (404 NOT_FOUND, 400 INVALID_ARGUMENT, 401
UNAUTHENTICATED, 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504
DEADLINE_EXCEEDED, else INTERNAL) and a message that never quotes the input.
"""

import json
import struct
import time
import uuid
from collections import Counter as CountDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import grpc  # type: ignore[import-untyped]
from fastapi.security import HTTPAuthorizationCredentials
from tritonclient.grpc import service_pb2 as pb  # type: ignore[import-untyped]
from tritonclient.grpc import service_pb2_grpc as pbg

import clinfer

from .audit import AuditRecord, log
from .auth import Principal, verify_bearer
from .errors import ApiError, clinfer_error_status
from .models import classify_on
from .oip import (
    CLASSIFY_OUTPUTS,
    DEIDENTIFY,
    DEIDENTIFY_OUTPUTS,
    BadRequest,
    _decode_bytes,
    _deidentify_version,
    _check_name,
    need,
    scope_of,
)
from .state import Gateway

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _status_of(exc: BaseException) -> Tuple[int, str, str]:
    """(HTTP-like status, kind, message) of an exception; unexpected ones say nothing more."""
    if isinstance(exc, ApiError):
        return exc.status, exc.kind, exc.detail
    if isinstance(exc, clinfer.ClinferError):
        status, kind, _ = clinfer_error_status(exc, oip=True)
        return status, kind, str(exc)
    return 500, "internal", "internal error"


def _texts(req: Any, max_texts: int) -> List[str]:
    if len(req.inputs) != 1 or req.inputs[0].name != "TEXT":
        raise BadRequest("this model takes one input, TEXT")
    inp = req.inputs[0]
    if inp.datatype != "BYTES":
        raise BadRequest("input TEXT must have datatype BYTES")
    shape = list(inp.shape)
    if not 1 <= len(shape) <= 2 or (len(shape) == 2 and shape[1] != 1):
        raise BadRequest("input TEXT must have shape [N] or [N, 1]")
    n = shape[0]
    if n < 1:
        raise BadRequest("input TEXT must hold at least one element")
    if n > max_texts:
        raise BadRequest(f"input TEXT: at most {max_texts} elements per request")
    if len(req.raw_input_contents) > 1:
        raise BadRequest("more raw input contents than inputs")
    if req.raw_input_contents:
        items: Sequence[bytes] = _decode_bytes(req.raw_input_contents[0], n)
    else:
        items = list(inp.contents.bytes_contents)
        if len(items) != n:
            raise BadRequest("input TEXT: the number of elements does not match its shape")
    out = []
    for i, b in enumerate(items):
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest(f"input TEXT: element {i} is not valid UTF-8") from None
    return out


def _bytes_raw(values: Sequence[str]) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


class InferenceService(pbg.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """The gRPC face of the gateway: same models, same batcher, same auth and audit."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def _call(self, method: str, context: Any, work: Any) -> Any:
        record = AuditRecord(request_id=str(uuid.uuid4()))
        start = time.perf_counter()
        status = 200
        try:
            return await work(record)
        except Exception as exc:  # noqa: BLE001 - every error becomes a gRPC status
            status, kind, message = _status_of(exc)
            record.error = kind
            if status == 500 and not isinstance(exc, (ApiError, clinfer.ClinferError)):
                log.error("unhandled %s in gRPC %s (message withheld)", type(exc).__name__, method)
            if status == 429:
                context.set_trailing_metadata((("retry-after", "1"),))
            await context.abort(_CODES.get(status, grpc.StatusCode.INTERNAL), message)
        finally:
            if method not in ("ServerLive", "ServerReady"):
                self.gw.audit(record, "GRPC", f"grpc:{method}", status, time.perf_counter() - start)

    def _principal(self, context: Any, record: AuditRecord) -> Principal:
        md = {k.lower(): v for k, v in context.invocation_metadata() or ()}
        raw = md.get("authorization")
        creds = None
        if isinstance(raw, str) and raw[:7].lower() == "bearer ":
            creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=raw[7:].strip())
        p = verify_bearer(self.gw.verifier, creds)
        record.sub = p.sub
        return p

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.gw.is_ready())

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        async def work(record: AuditRecord) -> Any:
            self._principal(context, record)
            return pb.ServerMetadataResponse(
                name="clinfer",
                version=clinfer.__version__,
                extensions=["binary_tensor_data", "model_repository"],
            )

        return await self._call("ServerMetadata", context, work)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        async def work(record: AuditRecord) -> Any:
            p = self._principal(context, record)
            _check_name(request.name)
            need(p, scope_of(request.name))
            if request.name == DEIDENTIFY:
                _deidentify_version(request.version or None)
                return pb.ModelReadyResponse(ready=self.gw.scrubber is not None)
            try:
                sv = self.gw.models.get(request.name, request.version or None)
            except ApiError as err:
                if err.status != 503:
                    raise
                return pb.ModelReadyResponse(ready=False)
            return pb.ModelReadyResponse(ready=sv.pipeline.is_ready() and not self.gw.draining)

        return await self._call("ModelReady", context, work)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        async def work(record: AuditRecord) -> Any:
            p = self._principal(context, record)
            _check_name(request.name)
            need(p, scope_of(request.name))
            T = pb.ModelMetadataResponse.TensorMetadata
            text = [T(name="TEXT", datatype="BYTES", shape=[-1])]
            if request.name == DEIDENTIFY:
                _deidentify_version(request.version or None)
                return pb.ModelMetadataResponse(
                    name=DEIDENTIFY,
                    versions=["1"],
                    platform="clinfer_deidentify",
                    inputs=text,
                    outputs=[
                        T(name="REDACTED", datatype="BYTES", shape=[-1]),
                        T(name="PHI_COUNTS", datatype="BYTES", shape=[-1]),
                    ],
                )
            sv = self.gw.models.get(request.name, request.version or None)
            entry = self.gw.models.models[request.name]
            versions = (
                [str(v) for v in sorted(entry.serving)] if not request.version else [str(sv.version)]
            )
            return pb.ModelMetadataResponse(
                name=request.name,
                versions=versions,
                platform="clinfer_distilbert",
                inputs=text,
                outputs=[
                    T(name="LABEL", datatype="BYTES", shape=[-1]),
                    T(name="SCORE", datatype="FP32", shape=[-1]),
                    T(name="LOGITS", datatype="FP32", shape=[-1, sv.num_labels]),
                ],
            )

        return await self._call("ModelMetadata", context, work)

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        async def work(record: AuditRecord) -> Any:
            gw = self.gw
            p = self._principal(context, record)
            name = request.model_name
            _check_name(name)
            need(p, scope_of(name))
            gw.live()
            record.model = name
            texts = _texts(request, gw.settings.max_texts)
            record.texts = len(texts)
            n = len(texts)
            tensors: Dict[str, Tuple[str, List[int], bytes]] = {}
            if name == DEIDENTIFY:
                _deidentify_version(request.model_version or None)
                version = "1"
                scrubber = gw.live_scrubber()
                import asyncio

                reds = await asyncio.to_thread(lambda: [scrubber.redact(t) for t in texts])
                counts = [CountDict(s.kind for s in r.spans) for r in reds]
                total: "CountDict[str]" = CountDict()
                for c in counts:
                    total.update(c)
                record.phi_counts = dict(total)
                tensors["REDACTED"] = ("BYTES", [n], _bytes_raw([r.text for r in reds]))
                tensors["PHI_COUNTS"] = (
                    "BYTES",
                    [n],
                    _bytes_raw([json.dumps(dict(sorted(c.items()))) for c in counts]),
                )
                order: Sequence[str] = DEIDENTIFY_OUTPUTS
            else:
                deadline: Optional[float] = None
                t = request.parameters.get("timeout") if request.parameters else None
                if t is not None and t.WhichOneof("parameter_choice") in (
                    "int64_param",
                    "uint64_param",
                ):
                    deadline = float(getattr(t, t.WhichOneof("parameter_choice"))) / 1000.0
                sv, results = await classify_on(
                    gw, name, request.model_version or None, texts, gw.deadline(deadline)
                )
                version = str(sv.version)
                total2: "CountDict[str]" = CountDict()
                for r in results:
                    total2.update(r.phi_counts)
                record.phi_counts = dict(total2)
                width = len(results[0].logits) if results else 0
                tensors["LABEL"] = ("BYTES", [n], _bytes_raw([r.label for r in results]))
                tensors["SCORE"] = (
                    "FP32",
                    [n],
                    struct.pack(f"<{n}f", *[float(r.score) for r in results]),
                )
                logits = [float(x) for r in results for x in r.logits]
                tensors["LOGITS"] = ("FP32", [n, width], struct.pack(f"<{len(logits)}f", *logits))
                order = CLASSIFY_OUTPUTS
            record.version = version
            wanted = [o.name for o in request.outputs] or list(order)
            for w in wanted:
                if w not in tensors:
                    raise BadRequest("unknown output requested")
            resp = pb.ModelInferResponse(model_name=name, model_version=version, id=request.id)
            for w in wanted:
                dtype, shape, raw = tensors[w]
                resp.outputs.add(name=w, datatype=dtype, shape=shape)
                resp.raw_output_contents.append(raw)
            return resp

        return await self._call("ModelInfer", context, work)

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        async def work(record: AuditRecord) -> Any:
            p = self._principal(context, record)
            need(p, "admin")
            M = pb.RepositoryIndexResponse.ModelIndex
            models = [M(name=DEIDENTIFY, version="1", state="READY", reason="")]
            models += [M(**m) for m in self.gw.models.index()]
            return pb.RepositoryIndexResponse(models=models)

        return await self._call("RepositoryIndex", context, work)


async def start(gw: Gateway, host: str, port: int) -> Any:
    """Starts the gRPC server on ``host:port``; returns it (``await server.stop(grace)``)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", gw.settings.max_body_bytes + 4096),
            ("grpc.max_send_message_length", 64 << 20),
        ]
    )
    pbg.add_GRPCInferenceServiceServicer_to_server(InferenceService(gw), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on gRPC port {port}")
    await server.start()
    log.info("gRPC (inference.GRPCInferenceService) on port %d", port)
    return server
