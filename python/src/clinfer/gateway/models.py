"""The models the gateway serves: ``ModelManager`` loads versions from the repository (or the
one ``--model`` directory) in the background, switches traffic to a version once it is ready,
and retires versions that left, after the requests using them have finished.

A version that fails to load (unreadable files, a ``sha256`` mismatch, a model clinfer cannot
load, a warm-up that does not finish) never replaces a serving one: the failure is logged
(the reason names files and fields, never text), counted in
``clinfer_gateway_model_loads_total{outcome="failed"}``, and not retried until the version's
files change. Versions are loaded only when their files were the same on two consecutive scans,
so a version that is still being copied is not loaded half-way (copying into a hidden
``.name`` directory and renaming it is the atomic way to publish one).
"""

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
)

from .audit import log
from .errors import ApiError
from .metrics import HttpMetrics
from .repository import (
    ModelConfig,
    RepoModel,
    RepositoryError,
    VersionDir,
    num_labels,
    scan,
    valid_name,
    verify_sha256,
)
from .settings import Settings


class ClassificationLike(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def logits(self) -> List[float]: ...
    @property
    def redacted(self) -> Optional[str]: ...
    @property
    def phi_counts(self) -> Dict[str, int]: ...
    @property
    def tokens(self) -> int: ...
    @property
    def total_s(self) -> float: ...


class PipelineLike(Protocol):
    """What the gateway needs from a ``clinfer.Pipeline`` (tests pass fakes)."""

    async def classify(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> ClassificationLike: ...

    async def classify_many(
        self, texts: Sequence[str], *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> Sequence[ClassificationLike]: ...

    def metrics(self) -> str: ...

    def is_ready(self) -> bool: ...

    def close(self, drain_timeout_s: float = 5.0) -> bool: ...


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build one version's pipeline."""

    name: str
    version: int
    path: str
    scrub: bool
    device: str
    dtype: str
    max_batch_size: int
    max_wait_ms: float
    queue_capacity: int
    drift_window: int = 1000
    drift_reference_size: int = 1000


PipelineFactory = Callable[[ModelSpec], PipelineLike]
RETIRE_GRACE_S = 0.5


DRIFT_REFERENCE_FILE = "drift_reference.json"


def default_pipeline(spec: ModelSpec) -> PipelineLike:
    """A real ``clinfer.Pipeline`` named after the model and version (its metrics carry
    ``model`` and ``version`` labels). A version directory holding ``drift_reference.json``
    (saved with ``Pipeline.save_drift_reference``) gives the drift monitor its reference, so
    that every replica compares against the same validated reference instead of freezing
    its own from its first requests."""
    import clinfer

    reference = Path(spec.path) / DRIFT_REFERENCE_FILE
    return clinfer.Pipeline(
        spec.path,
        scrub=spec.scrub,
        device=spec.device,
        max_batch_size=spec.max_batch_size,
        max_wait_ms=spec.max_wait_ms,
        queue_capacity=spec.queue_capacity,
        dtype=spec.dtype,
        name=spec.name,
        version=str(spec.version),
        drift=spec.drift_window > 0,
        drift_window=max(spec.drift_window, 10),
        drift_reference_size=spec.drift_reference_size,
        drift_reference=str(reference) if reference.is_file() and spec.drift_window else None,
    )


class ServingVersion:
    """A loaded version: its pipeline, and the count of requests using it (a retired version
    is closed when that count reaches zero)."""

    def __init__(
        self, spec: ModelSpec, pipeline: PipelineLike, key: Tuple[object, ...], labels: int
    ) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.key = key
        self.num_labels = labels
        self.retired = False
        self._inflight = 0
        self._cond = threading.Condition()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    @contextlib.contextmanager
    def use(self) -> Iterator[PipelineLike]:
        with self._cond:
            self._inflight += 1
        try:
            yield self.pipeline
        finally:
            with self._cond:
                self._inflight -= 1
                if self._inflight == 0:
                    self._cond.notify_all()

    def close_when_idle(self, timeout_s: float) -> bool:
        """Waits (up to ``timeout_s``) for the requests using this version, then closes it,
        serving what is queued for up to ``timeout_s`` more."""
        # a request that looked the version up just before the switch increments the count
        # right after; give it that moment
        time.sleep(RETIRE_GRACE_S)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        try:
            return bool(self.pipeline.close(timeout_s))
        except Exception as exc:  # noqa: BLE001 - closing must not fail the caller
            log.error("closing %s version %d failed (%s)", self.name, self.version,
                      type(exc).__name__)
            return False


@dataclass
class ModelEntry:
    """One model: the versions serving (a mapping replaced whole, never edited in place) and
    the state of each version known on disk."""

    name: str
    config: ModelConfig
    serving: Dict[int, ServingVersion] = field(default_factory=dict)
    #: version -> (state, reason): READY, LOADING, UNAVAILABLE (with why)
    states: Dict[int, Tuple[str, str]] = field(default_factory=dict)
    on_disk: Tuple[int, ...] = ()
    problem: Optional[str] = None

    def latest(self) -> Optional[ServingVersion]:
        return self.serving[max(self.serving)] if self.serving else None


class ModelManager:
    """Loads, switches and retires model versions; answers which version serves a request."""

    def __init__(self, settings: Settings, factory: PipelineFactory, metrics: HttpMetrics) -> None:
        self.settings = settings
        self.factory = factory
        self.metrics = metrics
        self.models: Dict[str, ModelEntry] = {}  # replaced whole under _lock
        self._lock = threading.Lock()  # one reconcile at a time
        self._seen: Dict[Tuple[str, int], Tuple[object, ...]] = {}
        self._failed: Dict[Tuple[str, int], Tuple[object, ...]] = {}
        self._unloaded: Set[str] = set()
        self._retiring: List[threading.Thread] = []
        self._scans = 0
        self.closed = False

    # -- what requests use ------------------------------------------------------------------

    def get(self, name: str, version: Optional[str] = None) -> ServingVersion:
        """The version to use: the given one, or the latest serving. 404 for an unknown
        model or version, 503 for one that is known but not serving."""
        entry = self.models.get(name) if valid_name(name) else None
        if entry is None:
            raise ApiError(404, "not_found", "unknown model")
        if version is None or version == "":
            sv = entry.latest()
            if sv is None:
                raise ApiError(503, "not_ready", f"model {name} has no version serving")
            return sv
        if not version.isdigit() or len(version) > 18:
            raise ApiError(404, "not_found", f"model {name} has no such version")
        v = int(version)
        sv2 = entry.serving.get(v)
        if sv2 is not None:
            return sv2
        if v in entry.on_disk:
            raise ApiError(503, "not_ready", f"version {v} of model {name} is not serving")
        raise ApiError(404, "not_found", f"model {name} has no version {v}")

    def default_classifier(self) -> ServingVersion:
        """The model behind ``/v1/classify``: ``default_model``, or the only one."""
        if self.settings.default_model is not None:
            return self.get(self.settings.default_model)
        names = list(self.models)
        if len(names) == 1:
            return self.get(names[0])
        if not names:
            raise ApiError(503, "not_ready", "no classification model is loaded")
        raise ApiError(
            503, "not_ready", "several models are served: set CLINFER_DEFAULT_MODEL for /v1"
        )

    def is_ready(self) -> bool:
        """Every model has at least one version serving and warmed up."""
        if self.closed or self._scans == 0:
            return False
        for entry in self.models.values():
            if not any(sv.pipeline.is_ready() for sv in entry.serving.values()):
                return False
        return True

    def serving(self) -> List[ServingVersion]:
        return [sv for e in self.models.values() for sv in e.serving.values()]

    # -- loading ----------------------------------------------------------------------------

    def _repository(self) -> Tuple[Dict[str, RepoModel], List[str]]:
        s = self.settings
        if s.model_dir is not None:
            path = Path(s.model_dir).resolve()
            name = path.name
            if not valid_name(name):
                raise RepositoryError("the --model directory's name is not a usable model name")
            vd = VersionDir(1, path, ())
            return {name: RepoModel(name, ModelConfig(), None, "", {1: vd})}, []
        if s.model_repository is None:
            return {}, []
        return scan(s.model_repository)

    def reconcile(self, force: Sequence[str] = ()) -> None:
        """Brings what serves in line with the repository (one scan). ``force``: models to
        load now even if their files changed since the last scan, and even if unloaded."""
        with self._lock:
            if self.closed:
                return
            for name in force:
                self._unloaded.discard(name)
            try:
                repo, problems = self._repository()
            except RepositoryError as err:
                log.warning("model repository: %s", err)
                self._scans += 1
                return
            for p in problems:
                log.warning("model repository: %s", p)
            first = self._scans == 0
            new_models: Dict[str, ModelEntry] = {}
            for name, rm in repo.items():
                if name in self._unloaded:
                    continue
                old = self.models.get(name)
                new_models[name] = self._reconcile_model(rm, old, first or name in force)
            for name, old in self.models.items():
                if name not in new_models:
                    for sv in old.serving.values():
                        self._retire(sv)
                    if name in self._unloaded:
                        log.info("model %s unloaded", name)
                    else:
                        log.info("model %s left the repository: unloaded", name)
            gone = set(self.models) - set(new_models)
            self.models = new_models
            self._seen = {
                (name, v): vd.fingerprint
                for name, rm in repo.items()
                for v, vd in rm.versions.items()
            }
            for name, entry in new_models.items():
                self.metrics.versions_serving.labels(name).set(len(entry.serving))
            for name in gone:
                self.metrics.versions_serving.labels(name).set(0)
            self._scans += 1

    def _reconcile_model(
        self, rm: RepoModel, old: Optional[ModelEntry], eager: bool
    ) -> ModelEntry:
        name = rm.name
        serving = dict(old.serving) if old is not None else {}
        states: Dict[int, Tuple[str, str]] = {}
        if rm.config is None:
            # unusable settings: what serves keeps serving, with its old settings
            reason = rm.config_error or "unusable settings"
            if old is None or old.problem != reason:
                log.warning("model %s: %s (keeping what serves)", name, reason)
                self.metrics.model_loads.labels(name, "", "failed").inc()
            config = old.config if old is not None else ModelConfig()
            for v in rm.versions:
                states[v] = ("READY", "") if v in serving else ("UNAVAILABLE", reason)
            return ModelEntry(name, config, serving, states, tuple(sorted(rm.versions)), reason)
        config = rm.config
        wanted = config.version_policy.select(list(rm.versions))
        loaded_ok = set(v for v in serving if v in rm.versions)
        for v in wanted:
            vd = rm.versions[v]
            key: Tuple[object, ...] = (vd.fingerprint, rm.config_fingerprint)
            current = serving.get(v)
            if current is not None and current.key == key:
                continue
            if self._failed.get((name, v)) == key:
                states[v] = ("UNAVAILABLE", "failed to load; waiting for its files to change")
                continue
            if not eager and self._seen.get((name, v)) != vd.fingerprint:
                states[v] = ("LOADING", "waiting for the files to settle")
                continue
            sv = self._load(name, vd, config, key)
            if sv is None:
                states[v] = ("UNAVAILABLE", "failed to load")
                continue
            if current is not None:
                self._retire(current)
            serving = dict(serving)
            serving[v] = sv  # the switch: later lookups see the new mapping
            loaded_ok.add(v)
        keep = config.version_policy.select(sorted(loaded_ok))
        if not keep and serving:
            # nothing the policy wants could load: the versions serving go on serving
            keep = [v for v in serving if v in rm.versions] or list(serving)
        for v in list(serving):
            if v not in keep:
                self._retire(serving[v])
                serving = {k: sv for k, sv in serving.items() if k != v}
        for v in rm.versions:
            if v in serving:
                states[v] = ("READY", "")
            elif v not in states:
                states[v] = ("UNAVAILABLE", "not selected by the version policy")
        return ModelEntry(name, config, serving, states, tuple(sorted(rm.versions)))

    def _spec(self, name: str, vd: VersionDir, config: ModelConfig) -> ModelSpec:
        s = self.settings
        return ModelSpec(
            name=name,
            version=vd.version,
            path=str(vd.path),
            scrub=config.scrub,
            device=config.device or s.device,
            dtype=config.dtype,
            max_batch_size=config.max_batch_size or s.max_batch_size,
            max_wait_ms=s.max_wait_ms if config.max_wait_ms is None else config.max_wait_ms,
            queue_capacity=config.queue_capacity or s.queue_capacity,
            drift_window=s.drift_window,
            drift_reference_size=s.drift_reference_size,
        )

    def _load(
        self, name: str, vd: VersionDir, config: ModelConfig, key: Tuple[object, ...]
    ) -> Optional[ServingVersion]:
        spec = self._spec(name, vd, config)
        started = time.monotonic()
        pipeline: Optional[PipelineLike] = None
        try:
            expected = config.sha256.get(vd.version)
            if expected is not None:
                verify_sha256(vd, expected)
            pipeline = self.factory(spec)
            deadline = started + self.settings.load_timeout_s
            while not pipeline.is_ready():
                if time.monotonic() > deadline:
                    raise RepositoryError(f"version {vd.version} was not ready in time")
                time.sleep(0.02)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the old version serving
            reason = str(exc) if isinstance(exc, RepositoryError) else type(exc).__name__
            kind = getattr(exc, "kind", None)
            if isinstance(kind, str):
                reason = f"{reason} ({kind})"
            log.warning("model %s version %d failed to load: %s", name, vd.version, reason)
            self.metrics.model_loads.labels(name, str(vd.version), "failed").inc()
            self._failed[(name, vd.version)] = key
            if pipeline is not None:
                with contextlib.suppress(Exception):
                    pipeline.close(0.0)
            return None
        self._failed.pop((name, vd.version), None)
        self.metrics.model_loads.labels(name, str(vd.version), "ok").inc()
        log.info(
            "model %s version %d ready in %.2f s", name, vd.version, time.monotonic() - started
        )
        return ServingVersion(spec, pipeline, key, num_labels(vd.path))

    def _retire(self, sv: ServingVersion) -> None:
        if sv.retired:
            return
        sv.retired = True
        timeout = self.settings.drain_timeout_s

        def close() -> None:
            drained = sv.close_when_idle(timeout)
            log.info("model %s version %d retired (drained=%s)", sv.name, sv.version, drained)

        t = threading.Thread(target=close, name="clinfer-retire", daemon=True)
        t.start()
        self._retiring = [x for x in self._retiring if x.is_alive()] + [t]

    # -- repository extension ---------------------------------------------------------------

    def load(self, name: str) -> None:
        """Loads (or reloads) a model now (``POST /v2/repository/models/{name}/load``)."""
        if not valid_name(name):
            raise ApiError(404, "not_found", "unknown model")
        self.reconcile(force=[name])
        if name not in self.models:
            raise ApiError(404, "not_found", "no such model in the repository")
        if not self.models[name].serving:
            raise ApiError(400, "load_failed", f"model {name} has no version that loads")

    def unload(self, name: str) -> None:
        """Stops serving a model until it is loaded again."""
        if name not in self.models:
            raise ApiError(404, "not_found", "unknown model")
        with self._lock:
            self._unloaded.add(name)
        self.reconcile()

    def index(self) -> List[Dict[str, str]]:
        out = []
        for name, entry in sorted(self.models.items()):
            for v in sorted(set(entry.states) | set(entry.serving)):
                state, reason = entry.states.get(v, ("READY", ""))
                out.append({"name": name, "version": str(v), "state": state, "reason": reason})
        return out

    def close(self, drain_timeout_s: float) -> bool:
        """Stops every version: serves what is queued for up to ``drain_timeout_s``."""
        with self._lock:
            self.closed = True
            versions = self.serving()
            self.models = {}
        results: List[bool] = []
        threads = [
            threading.Thread(target=lambda sv=sv: results.append(sv.close_when_idle(drain_timeout_s)))
            for sv in versions
        ]
        for t in threads:
            t.start()
        for t in threads + self._retiring:
            t.join(drain_timeout_s * 2 + 5)
        return all(results) and len(results) == len(versions)


async def classify_on(
    gw_models: "Any",
    name: Optional[str],
    version: Optional[str],
    texts: Sequence[str],
    deadline_ms: Optional[float],
    priority: int = 1,
) -> Tuple[ServingVersion, Sequence[ClassificationLike]]:
    """Classifies on the version that serves ``name`` (``None``: the ``/v1`` default model).
    A version retired between lookup and submission answers ShuttingDown; the request then
    goes to the version that replaced it (once), so a rollout fails no request."""
    import clinfer

    manager: ModelManager = gw_models.models
    for attempt in (0, 1):
        sv = manager.default_classifier() if name is None else manager.get(name, version)
        try:
            with sv.use() as pipe:
                return sv, await pipe.classify_many(
                    texts, deadline_ms=deadline_ms, priority=priority
                )
        except clinfer.ShuttingDown:
            if attempt == 1 or not sv.retired or manager.closed:
                raise
    raise AssertionError("unreachable")
