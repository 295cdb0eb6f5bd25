"""The gateway's configuration: ``Settings`` (read from ``CLINFER_*`` environment variables by
``Settings.from_env``, overridden by command-line flags in ``serve.py``), ``ConfigError``, and
``OPTIONS``, the one table of settings that ``--help`` prints and the README copies."""

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple


class ConfigError(ValueError):
    """A setting is missing or unusable (the message names the variable, never a secret)."""


class Option(NamedTuple):
    """One setting: its ``Settings`` field, environment variable, flag (or None), type
    (``str``, ``int``, ``float``, ``secret``, ``path``) and the line ``--help`` prints."""

    field: str
    env: str
    flag: Optional[str]
    kind: str
    help: str


OPTIONS: List[Option] = [
    Option("model_repository", "CLINFER_MODEL_REPOSITORY", "--model-repository", "path",
           "serve every model under DIR/<name>/<version>/ (polled for changes)"),
    Option("model_dir", "CLINFER_MODEL_DIR", "--model", "path",
           "serve one Hugging Face model directory, named after it, as version 1"),
    Option("default_model", "CLINFER_DEFAULT_MODEL", "--default-model", "str",
           "the model behind /v1/classify (default: the only classification model)"),
    Option("host", "CLINFER_HOST", "--host", "str", "address to listen on (127.0.0.1)"),
    Option("port", "CLINFER_PORT", "--port", "int", "HTTP port: /v1, /v2, probes (8000)"),
    Option("metrics_port", "CLINFER_METRICS_PORT", "--metrics-port", "int",
           "metrics also on this port, as Triton's 8002 (0: only on --port) (8002)"),
    Option("grpc_port", "CLINFER_GRPC_PORT", "--grpc-port", "int",
           "gRPC (Triton's GRPCInferenceService) on this port, as Triton's 8001 (0: off) (8001)"),
    Option("repository_poll_s", "CLINFER_REPOSITORY_POLL_S", "--repository-poll-s", "float",
           "seconds between repository scans (0: scan at start only) (5)"),
    Option("jwt_hs256_key", "CLINFER_JWT_HS256_KEY", None, "secret",
           "HS256 secret, at least 32 bytes (required unless an RS256 key is set)"),
    Option("jwt_rs256_public_key", "CLINFER_JWT_RS256_PUBLIC_KEY", None, "secret",
           "PEM public key text: RS256 tokens are accepted too (needs cryptography)"),
    Option("jwt_rs256_public_key_file", "CLINFER_JWT_RS256_PUBLIC_KEY_FILE", None, "path",
           "the RS256 public key, from a PEM file"),
    Option("jwt_audience", "CLINFER_JWT_AUDIENCE", None, "str", "when set, aud must match"),
    Option("jwt_issuer", "CLINFER_JWT_ISSUER", None, "str", "when set, iss must match"),
    Option("jwt_leeway_s", "CLINFER_JWT_LEEWAY_S", None, "float",
           "clock skew allowed on exp and nbf (0)"),
    Option("device", "CLINFER_DEVICE", "--device", "str",
           "cpu, cuda, cuda:N or auto, for every model (cpu)"),
    Option("max_batch_size", "CLINFER_MAX_BATCH_SIZE", None, "int",
           "rows per model call; a model's clinfer.json can override (32)"),
    Option("max_wait_ms", "CLINFER_MAX_WAIT_MS", None, "float",
           "how long a batch waits to fill; clinfer.json can override (5)"),
    Option("queue_capacity", "CLINFER_QUEUE_CAPACITY", None, "int",
           "requests queued per model version before 429; clinfer.json can override (1024)"),
    Option("default_deadline_ms", "CLINFER_DEFAULT_DEADLINE_MS", None, "float",
           "deadline of every classification; a request can only shorten it (none)"),
    Option("max_body_bytes", "CLINFER_MAX_BODY_BYTES", None, "int",
           "larger request bodies get 413 (1048576)"),
    Option("max_texts", "CLINFER_MAX_TEXTS", None, "int",
           "most texts in one request (256)"),
    Option("drain_timeout_s", "CLINFER_DRAIN_TIMEOUT_S", None, "float",
           "at shutdown or unload, how long queued work may still run (10)"),
    Option("header_timeout_s", "CLINFER_HEADER_TIMEOUT_S", None, "float",
           "close connections that send no whole request head in this time (10)"),
    Option("body_timeout_s", "CLINFER_BODY_TIMEOUT_S", None, "float",
           "a request whose body has not arrived in this time gets 408 (30)"),
    Option("load_timeout_s", "CLINFER_LOAD_TIMEOUT_S", None, "float",
           "a model version not ready (loaded and warmed up) in this time fails (300)"),
    Option("drift_window", "CLINFER_DRIFT_WINDOW", None, "int",
           "requests in each model's drift window; 0 turns drift monitoring off (1000)"),
    Option("drift_reference_size", "CLINFER_DRIFT_REFERENCE_SIZE", None, "int",
           "requests frozen as the drift reference when the version ships none (1000)"),
    Option("audit_log", "CLINFER_AUDIT_LOG", None, "str",
           "file to append audit lines to (- or unset: stderr)"),
]


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration; ``OPTIONS`` documents every field."""

    jwt_hs256_key: Optional[bytes] = None
    jwt_rs256_public_key: Optional[str] = None
    jwt_rs256_public_key_file: Optional[str] = None
    jwt_audience: Optional[str] = None
    jwt_issuer: Optional[str] = None
    jwt_leeway_s: float = 0.0
    model_repository: Optional[str] = None
    model_dir: Optional[str] = None
    default_model: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8000
    metrics_port: int = 8002
    grpc_port: int = 8001
    repository_poll_s: float = 5.0
    device: str = "cpu"
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    queue_capacity: int = 1024
    default_deadline_ms: Optional[float] = None
    max_body_bytes: int = 1 << 20
    max_texts: int = 256
    drain_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    load_timeout_s: float = 300.0
    drift_window: int = 1000
    drift_reference_size: int = 1000
    audit_log: str = "-"

    def __post_init__(self) -> None:
        if not self.jwt_hs256_key and not self.jwt_rs256_public_key:
            raise ConfigError(
                "CLINFER_JWT_HS256_KEY is required (or CLINFER_JWT_RS256_PUBLIC_KEY[_FILE])"
            )
        if self.jwt_hs256_key is not None and len(self.jwt_hs256_key) < 32:
            raise ConfigError("CLINFER_JWT_HS256_KEY must be at least 32 bytes (RFC 7518 3.2)")
        if self.model_repository is not None and self.model_dir is not None:
            raise ConfigError(
                "give either --model-repository (CLINFER_MODEL_REPOSITORY) or --model "
                "(CLINFER_MODEL_DIR), not both"
            )
        ints: Tuple[Tuple[str, object, int, int], ...] = (
            ("CLINFER_MAX_BATCH_SIZE", self.max_batch_size, 1, 4096),
            ("CLINFER_QUEUE_CAPACITY", self.queue_capacity, 1, 1_000_000),
            ("CLINFER_MAX_BODY_BYTES", self.max_body_bytes, 1, 64 << 20),
            ("CLINFER_MAX_TEXTS", self.max_texts, 1, 100_000),
            ("CLINFER_PORT", self.port, 0, 65535),
            ("CLINFER_METRICS_PORT", self.metrics_port, 0, 65535),
            ("CLINFER_GRPC_PORT", self.grpc_port, 0, 65535),
            ("CLINFER_DRIFT_WINDOW", self.drift_window, 0, 10_000_000),
            ("CLINFER_DRIFT_REFERENCE_SIZE", self.drift_reference_size, 1, 10_000_000),
        )
        for name, value, low, high in ints:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer")
            if not low <= value <= high:
                raise ConfigError(f"{name} must be in {low}..={high}")
        if 0 < self.drift_window < 10:
            raise ConfigError("CLINFER_DRIFT_WINDOW must be 0 (off) or at least 10")
        nums: Tuple[Tuple[str, object, float], ...] = (
            ("CLINFER_MAX_WAIT_MS", self.max_wait_ms, 60_000.0),
            ("CLINFER_DRAIN_TIMEOUT_S", self.drain_timeout_s, 3600.0),
            ("CLINFER_HEADER_TIMEOUT_S", self.header_timeout_s, 3600.0),
            ("CLINFER_BODY_TIMEOUT_S", self.body_timeout_s, 3600.0),
            ("CLINFER_LOAD_TIMEOUT_S", self.load_timeout_s, 86_400.0),
            ("CLINFER_REPOSITORY_POLL_S", self.repository_poll_s, 86_400.0),
            ("CLINFER_JWT_LEEWAY_S", self.jwt_leeway_s, 3600.0),
            ("CLINFER_DEFAULT_DEADLINE_MS", self.default_deadline_ms or 0.0, 3_600_000.0),
        )
        for name2, num, high2 in nums:
            if isinstance(num, bool) or not isinstance(num, (int, float)):
                raise ConfigError(f"{name2} must be a number")
            if not (math.isfinite(num) and 0 <= num <= high2):
                raise ConfigError(f"{name2} must be a finite number in 0..={high2:g}")

    @classmethod
    def from_env(
        cls, env: Optional[Mapping[str, str]] = None, overrides: Optional[Mapping[str, Any]] = None
    ) -> "Settings":
        """Reads the configuration from the ``CLINFER_*`` environment variables (``OPTIONS``);
        ``overrides`` (field name -> value, e.g. from command-line flags) win over them."""
        e = os.environ if env is None else env
        values: Dict[str, Any] = {}
        for opt in OPTIONS:
            raw = e.get(opt.env)
            if raw is None or raw == "":
                continue
            values[opt.field] = _convert(opt, raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        key_file = values.pop("jwt_rs256_public_key_file", None)
        if values.get("jwt_rs256_public_key") is None and key_file is not None:
            try:
                values["jwt_rs256_public_key"] = Path(key_file).read_text()
            except OSError as err:
                raise ConfigError(
                    f"CLINFER_JWT_RS256_PUBLIC_KEY_FILE cannot be read ({err.strerror})"
                ) from None
        if isinstance(values.get("jwt_hs256_key"), str):
            values["jwt_hs256_key"] = values["jwt_hs256_key"].encode()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def __repr__(self) -> str:  # never print the secret
        return (
            f"Settings(model_repository={self.model_repository!r}, "
            f"model_dir={self.model_dir!r}, device={self.device!r}, "
            f"max_batch_size={self.max_batch_size}, max_wait_ms={self.max_wait_ms}, "
            f"queue_capacity={self.queue_capacity}, max_body_bytes={self.max_body_bytes}, "
            f"hs256={'on' if self.jwt_hs256_key else 'off'}, "
            f"rs256={'on' if self.jwt_rs256_public_key else 'off'})"
        )


def _convert(opt: Option, raw: str) -> Any:
    if opt.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{opt.env} must be an integer") from None
    if opt.kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{opt.env} must be a number") from None
    return raw


def options_table() -> str:
    """The settings as the text table ``--help`` prints (flag, variable, meaning)."""
    rows = [(o.flag or "", o.env, o.help) for o in OPTIONS]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)
