"""The model repository on disk: ``DIR/<name>/<version>/`` (each version an ordinary Hugging
Face model directory) with an optional ``DIR/<name>/clinfer.json`` per model.

``clinfer.json`` (every field optional; unknown fields are an error)::

    {
      "version_policy": {"latest": {"num_versions": 1}},   # or {"all": {}},
                                                           # or {"specific": {"versions": [1, 3]}}
      "max_batch_size": 32, "max_wait_ms": 5, "queue_capacity": 1024,
      "dtype": "auto",            # auto, f32, f16, bf16, int8
      "device": "cpu",            # cpu, cuda, cuda:N, auto (default: the gateway's --device)
      "scrub": true,              # de-identify texts before the model sees them
      "sha256": {"1": "<hex digest of 1/model.safetensors>"}
    }

Nothing here trusts the repository more than it must: model names and version names are
checked (no path traversal, no hidden or odd names), a version is used only when its resolved
path lies inside the repository, and a version with a ``sha256`` entry serves only when its
weights match it. A problem is reported as ``RepositoryError`` naming the file and the field.
"""

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple

#: Model names: what Triton accepts in a URL path segment, minus anything that could traverse.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: Versions: positive integers without leading zeros, as Triton's.
VERSION_RE = re.compile(r"^[1-9][0-9]{0,17}$")
SETTINGS_FILE = "clinfer.json"
WEIGHTS_FILE = "model.safetensors"
DTYPES = ("auto", "f32", "f16", "bf16", "int8")
#: Names the gateway serves itself.
RESERVED_NAMES = frozenset({"deidentify"})


class RepositoryError(ValueError):
    """A model, version or settings file that cannot be used (the message names the file and
    the field; it never holds file contents)."""


def valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name)) and ".." not in name


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions of a model serve: the ``latest`` N, ``all``, or ``specific`` ones."""

    kind: str = "latest"
    num_versions: int = 1
    versions: FrozenSet[int] = frozenset()

    def select(self, available: List[int]) -> List[int]:
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :] if self.num_versions > 0 else []

    def describe(self) -> Dict[str, Any]:
        if self.kind == "all":
            return {"all": {}}
        if self.kind == "specific":
            return {"specific": {"versions": sorted(self.versions)}}
        return {"latest": {"num_versions": self.num_versions}}


@dataclass(frozen=True)
class ModelConfig:
    """One model's settings (``clinfer.json``); None means the gateway's default."""

    version_policy: VersionPolicy = VersionPolicy()
    max_batch_size: Optional[int] = None
    max_wait_ms: Optional[float] = None
    queue_capacity: Optional[int] = None
    dtype: str = "auto"
    device: Optional[str] = None
    scrub: bool = True
    sha256: Mapping[int, str] = field(default_factory=dict)


_FIELDS = {
    "version_policy",
    "max_batch_size",
    "max_wait_ms",
    "queue_capacity",
    "dtype",
    "device",
    "scrub",
    "sha256",
}


def parse_config(data: Any, where: str) -> ModelConfig:
    """Validates a parsed ``clinfer.json``; ``where`` names the file in errors."""

    def bad(field_name: str, why: str) -> RepositoryError:
        return RepositoryError(f"{where}: {field_name}: {why}")

    if not isinstance(data, dict):
        raise RepositoryError(f"{where}: must hold a JSON object")
    unknown = sorted(k for k in data if k not in _FIELDS)
    if unknown:
        shown = ", ".join(repr(k)[:40] for k in unknown[:5])
        raise RepositoryError(f"{where}: unknown field(s) {shown}")

    def integer(name: str, low: int, high: int) -> Optional[int]:
        v = data.get(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad(name, "must be an integer")
        if not low <= v <= high:
            raise bad(name, f"must be in {low}..={high}")
        return v

    wait = data.get("max_wait_ms")
    if wait is not None:
        if isinstance(wait, bool) or not isinstance(wait, (int, float)):
            raise bad("max_wait_ms", "must be a number")
        if not (math.isfinite(wait) and 0 <= wait <= 60_000):
            raise bad("max_wait_ms", "must be in 0..=60000")
    dtype = data.get("dtype", "auto")
    if dtype not in DTYPES:
        raise bad("dtype", f"must be one of {', '.join(DTYPES)}")
    device = data.get("device")
    if device is not None and (
        not isinstance(device, str) or not re.match(r"^(cpu|auto|cuda(:[0-9]{1,3})?)$", device)
    ):
        raise bad("device", "must be cpu, cuda, cuda:N or auto")
    scrub = data.get("scrub", True)
    if not isinstance(scrub, bool):
        raise bad("scrub", "must be true or false")
    sha: Dict[int, str] = {}
    raw_sha = data.get("sha256", {})
    if not isinstance(raw_sha, dict):
        raise bad("sha256", 'must be an object {"<version>": "<hex digest>"}')
    for k, v in raw_sha.items():
        if not isinstance(k, str) or not VERSION_RE.match(k):
            raise bad("sha256", "keys must be version numbers")
        if not isinstance(v, str) or not re.match(r"^[0-9a-fA-F]{64}$", v):
            raise bad(f"sha256.{k}", "must be 64 hex digits")
        sha[int(k)] = v.lower()
    return ModelConfig(
        version_policy=_policy(data.get("version_policy"), bad),
        max_batch_size=integer("max_batch_size", 1, 4096),
        max_wait_ms=None if wait is None else float(wait),
        queue_capacity=integer("queue_capacity", 1, 1_000_000),
        dtype=dtype,
        device=device,
        scrub=scrub,
        sha256=sha,
    )


def _policy(raw: Any, bad: Any) -> VersionPolicy:
    if raw is None:
        return VersionPolicy()
    if not isinstance(raw, dict) or len(raw) != 1:
        raise bad("version_policy", "must be one of latest, all, specific")
    (kind, body), = raw.items()
    if not isinstance(body, dict):
        raise bad(f"version_policy.{kind}", "must be an object")
    if kind == "all":
        if body:
            raise bad("version_policy.all", "takes no fields")
        return VersionPolicy(kind="all")
    if kind == "latest":
        n = body.get("num_versions", 1)
        if set(body) - {"num_versions"}:
            raise bad("version_policy.latest", "only num_versions is allowed")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise bad("version_policy.latest.num_versions", "must be an integer in 1..=1000")
        return VersionPolicy(kind="latest", num_versions=n)
    if kind == "specific":
        vs = body.get("versions")
        if set(body) - {"versions"}:
            raise bad("version_policy.specific", "only versions is allowed")
        if (
            not isinstance(vs, list)
            or not vs
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in vs)
        ):
            raise bad("version_policy.specific.versions", "must be a list of positive integers")
        return VersionPolicy(kind="specific", versions=frozenset(vs))
    raise bad("version_policy", "must be one of latest, all, specific")


@dataclass(frozen=True)
class VersionDir:
    """One version directory and a fingerprint of its files (names, sizes, modification
    times): a change of the fingerprint means the version changed on disk."""

    version: int
    path: Path
    fingerprint: Tuple[Tuple[str, int, int], ...]


@dataclass(frozen=True)
class RepoModel:
    """One model directory: its settings (or the problem with them) and its versions."""

    name: str
    config: Optional[ModelConfig]
    config_error: Optional[str]
    config_fingerprint: str
    versions: Dict[int, VersionDir]


def _inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root)
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def _fingerprint(path: Path) -> Tuple[Tuple[str, int, int], ...]:
    out = []
    try:
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            try:
                st = entry.stat()
            except OSError:
                continue
            out.append((entry.name, int(st.st_size), int(st.st_mtime_ns)))
    except OSError:
        pass
    return tuple(out)


def scan(root_dir: str) -> Tuple[Dict[str, RepoModel], List[str]]:
    """The models under ``root_dir`` and the problems found (entries skipped, with why)."""
    root = Path(root_dir).resolve()
    problems: List[str] = []
    models: Dict[str, RepoModel] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as err:
        raise RepositoryError(f"the model repository cannot be read ({err.strerror})") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden entries (e.g. a copy in progress named .tmp-...) are not models
        if not entry.is_dir():
            continue
        name = entry.name
        if not valid_name(name):
            problems.append(f"skipped a model directory with an invalid name ({len(name)} chars)")
            continue
        if name in RESERVED_NAMES:
            problems.append(f"skipped model {name!r}: the name is reserved by the gateway")
            continue
        mdir = root / name
        if not _inside(root, mdir):
            problems.append(f"skipped model {name!r}: it resolves outside the repository")
            continue
        config: Optional[ModelConfig] = None
        config_error: Optional[str] = None
        config_fp = ""
        settings = mdir / SETTINGS_FILE
        where = f"{name}/{SETTINGS_FILE}"
        if settings.exists():
            try:
                raw = settings.read_bytes()
                config_fp = hashlib.sha256(raw).hexdigest()
                config = parse_config(json.loads(raw), where)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                config_error = f"{where}: not readable JSON"
            except RepositoryError as err:
                config_error = str(err)
            except RecursionError:
                config_error = f"{where}: nested too deeply"
        else:
            config = ModelConfig()
        versions: Dict[int, VersionDir] = {}
        try:
            subdirs = sorted(os.scandir(mdir), key=lambda e: e.name)
        except OSError:
            subdirs = []
        for sub in subdirs:
            if not sub.is_dir() or sub.name.startswith("."):
                continue
            if not VERSION_RE.match(sub.name):
                problems.append(f"model {name!r}: skipped a version directory not named 1, 2, ...")
                continue
            vpath = mdir / sub.name
            if not _inside(root, vpath):
                problems.append(f"model {name!r}: version {sub.name} resolves outside the repository")
                continue
            v = int(sub.name)
            versions[v] = VersionDir(v, vpath.resolve(), _fingerprint(vpath))
        models[name] = RepoModel(name, config, config_error, config_fp, versions)
    return models, problems


def verify_sha256(version: VersionDir, expected: str) -> None:
    """Raises ``RepositoryError`` unless the version's weights have the expected digest."""
    h = hashlib.sha256()
    try:
        with open(version.path / WEIGHTS_FILE, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as err:
        raise RepositoryError(
            f"version {version.version}: {WEIGHTS_FILE} cannot be read ({err.strerror})"
        ) from None
    if h.hexdigest() != expected:
        raise RepositoryError(
            f"version {version.version}: {WEIGHTS_FILE} does not match its sha256 in "
            f"{SETTINGS_FILE}"
        )


def num_labels(model_dir: Path) -> int:
    """The number of classes in a model directory's ``config.json`` (-1 when unknown)."""
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError, RecursionError):
        return -1
    if isinstance(cfg, dict):
        labels = cfg.get("id2label")
        if isinstance(labels, dict) and labels:
            return len(labels)
        n = cfg.get("num_labels")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return -1
