"""The gateway's configuration: ``Settings`` (read from ``CLINFER_*`` environment variables by
``Settings.from_env``) and ``ConfigError``."""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

DEFAULT_MODEL = Path(__file__).resolve().parents[3] / "models" / "clinfer-demo-sst2"


class ConfigError(ValueError):
    """A setting is missing or unusable (the message names the variable, never a secret)."""


@dataclass(frozen=True)
class Settings:
    """The gateway's configuration; ``from_env`` documents the environment variables."""

    jwt_hs256_key: Optional[bytes] = None
    jwt_rs256_public_key: Optional[str] = None
    jwt_audience: Optional[str] = None
    jwt_issuer: Optional[str] = None
    jwt_leeway_s: float = 0.0
    model_dir: str = str(DEFAULT_MODEL)
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
    audit_log: str = "-"

    def __post_init__(self) -> None:
        if not self.jwt_hs256_key and not self.jwt_rs256_public_key:
            raise ConfigError(
                "CLINFER_JWT_HS256_KEY is required (or CLINFER_JWT_RS256_PUBLIC_KEY[_FILE])"
            )
        if self.jwt_hs256_key is not None and len(self.jwt_hs256_key) < 32:
            raise ConfigError("CLINFER_JWT_HS256_KEY must be at least 32 bytes (RFC 7518 3.2)")
        for name, value, low, high in (
            ("CLINFER_MAX_BATCH_SIZE", self.max_batch_size, 1, 4096),
            ("CLINFER_QUEUE_CAPACITY", self.queue_capacity, 1, 1_000_000),
            ("CLINFER_MAX_BODY_BYTES", self.max_body_bytes, 1, 64 << 20),
            ("CLINFER_MAX_TEXTS", self.max_texts, 1, 100_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer")
            if not low <= value <= high:
                raise ConfigError(f"{name} must be in {low}..={high}")
        for name, num, high in (
            ("CLINFER_MAX_WAIT_MS", self.max_wait_ms, 60_000.0),
            ("CLINFER_DRAIN_TIMEOUT_S", self.drain_timeout_s, 3600.0),
            ("CLINFER_HEADER_TIMEOUT_S", self.header_timeout_s, 3600.0),
            ("CLINFER_BODY_TIMEOUT_S", self.body_timeout_s, 3600.0),
            ("CLINFER_JWT_LEEWAY_S", self.jwt_leeway_s, 3600.0),
            ("CLINFER_DEFAULT_DEADLINE_MS", self.default_deadline_ms or 0.0, 3_600_000.0),
        ):
            if not (math.isfinite(num) and 0 <= num <= high):
                raise ConfigError(f"{name} must be a finite number in 0..={high:g}")

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """Reads the configuration from environment variables.

        - ``CLINFER_JWT_HS256_KEY``: HS256 secret, at least 32 bytes (required unless an RS256
          key is given).
        - ``CLINFER_JWT_RS256_PUBLIC_KEY`` (PEM text) or ``CLINFER_JWT_RS256_PUBLIC_KEY_FILE``
          (path to a PEM file): also accept RS256 tokens (needs ``cryptography``).
        - ``CLINFER_JWT_AUDIENCE``, ``CLINFER_JWT_ISSUER``: when set, ``aud`` / ``iss`` must
          match. ``CLINFER_JWT_LEEWAY_S``: clock skew allowed on ``exp`` (default 0).
        - ``CLINFER_MODEL_DIR`` (default: the bundled ``models/clinfer-demo-sst2``),
          ``CLINFER_DEVICE`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``; default ``cpu``).
        - ``CLINFER_MAX_BATCH_SIZE`` (32), ``CLINFER_MAX_WAIT_MS`` (5),
          ``CLINFER_QUEUE_CAPACITY`` (1024): the dynamic batcher.
        - ``CLINFER_DEFAULT_DEADLINE_MS``: deadline of every classification (a request's
          ``deadline_ms`` can only shorten it); unset: none.
        - ``CLINFER_MAX_BODY_BYTES`` (1048576): larger request bodies get 413.
        - ``CLINFER_MAX_TEXTS`` (256): most texts in one ``{"texts": [...]}`` request.
        - ``CLINFER_DRAIN_TIMEOUT_S`` (10): at shutdown, how long queued work may still run.
        - ``CLINFER_HEADER_TIMEOUT_S`` (10): a connection that has not sent a whole request
          head within this time (a silent or half-open connection) is closed (``serve.py``).
        - ``CLINFER_BODY_TIMEOUT_S`` (30): a request whose body has not arrived within this
          time gets 408.
        - ``CLINFER_AUDIT_LOG``: a file to append audit lines to; unset or ``-``: stderr.
        """
        e = os.environ if env is None else env

        def get(name: str) -> Optional[str]:
            v = e.get(name)
            return v if v not in (None, "") else None

        def number(name: str, default: float) -> float:
            v = get(name)
            if v is None:
                return default
            try:
                return float(v)
            except ValueError:
                raise ConfigError(f"{name} must be a number") from None

        def integer(name: str, default: int) -> int:
            v = get(name)
            if v is None:
                return default
            try:
                return int(v)
            except ValueError:
                raise ConfigError(f"{name} must be an integer") from None

        hs = get("CLINFER_JWT_HS256_KEY")
        rs = get("CLINFER_JWT_RS256_PUBLIC_KEY")
        rs_file = get("CLINFER_JWT_RS256_PUBLIC_KEY_FILE")
        if rs is None and rs_file is not None:
            try:
                rs = Path(rs_file).read_text()
            except OSError as err:
                raise ConfigError(
                    f"CLINFER_JWT_RS256_PUBLIC_KEY_FILE cannot be read ({err.strerror})"
                ) from None
        deadline = get("CLINFER_DEFAULT_DEADLINE_MS")
        return cls(
            jwt_hs256_key=hs.encode() if hs is not None else None,
            jwt_rs256_public_key=rs,
            jwt_audience=get("CLINFER_JWT_AUDIENCE"),
            jwt_issuer=get("CLINFER_JWT_ISSUER"),
            jwt_leeway_s=number("CLINFER_JWT_LEEWAY_S", 0.0),
            model_dir=get("CLINFER_MODEL_DIR") or str(DEFAULT_MODEL),
            device=get("CLINFER_DEVICE") or "cpu",
            max_batch_size=integer("CLINFER_MAX_BATCH_SIZE", 32),
            max_wait_ms=number("CLINFER_MAX_WAIT_MS", 5.0),
            queue_capacity=integer("CLINFER_QUEUE_CAPACITY", 1024),
            default_deadline_ms=None
            if deadline is None
            else number("CLINFER_DEFAULT_DEADLINE_MS", 0.0),
            max_body_bytes=integer("CLINFER_MAX_BODY_BYTES", 1 << 20),
            max_texts=integer("CLINFER_MAX_TEXTS", 256),
            drain_timeout_s=number("CLINFER_DRAIN_TIMEOUT_S", 10.0),
            header_timeout_s=number("CLINFER_HEADER_TIMEOUT_S", 10.0),
            body_timeout_s=number("CLINFER_BODY_TIMEOUT_S", 30.0),
            audit_log=get("CLINFER_AUDIT_LOG") or "-",
        )

    def __repr__(self) -> str:  # never print the secret
        return (
            f"Settings(model_dir={self.model_dir!r}, device={self.device!r}, "
            f"max_batch_size={self.max_batch_size}, max_wait_ms={self.max_wait_ms}, "
            f"queue_capacity={self.queue_capacity}, max_body_bytes={self.max_body_bytes}, "
            f"hs256={'on' if self.jwt_hs256_key else 'off'}, "
            f"rs256={'on' if self.jwt_rs256_public_key else 'off'})"
        )
