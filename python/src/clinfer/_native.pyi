"""Type stubs for the native extension module ``clinfer._native``."""

import os
from typing import Any, Callable, Mapping, Optional, Sequence, Union, final

__all__ = [
    "ClinferError",
    "Overloaded",
    "DeadlineExceeded",
    "ShuttingDown",
    "InvalidInput",
    "ConfigError",
    "ModelLoadError",
    "Classifier",
    "Prediction",
    "Scrubber",
    "Span",
    "Redaction",
    "Pipeline",
    "Classification",
    "Ticket",
    "DriftReport",
    "DriftSignal",
    "drift_psi",
    "drift_ks",
    "__version__",
]

__version__: str

class ClinferError(Exception):
    """Root of every error raised by clinfer; ``.kind`` names it, ``.http_status`` is its
    /v1 HTTP status."""

    kind: str
    """A stable name: ``overloaded``, ``deadline_exceeded``, ``shutting_down``,
    ``invalid_input``, ``config``, ``model_load`` or ``internal``."""
    http_status: int
    """The status clinfer's ``/v1`` JSON API answers with (422 for invalid input)."""
    oip_status: int
    """The status under the Open Inference Protocol (``/v2``; 400 for invalid input)."""
    index: Optional[int]
    """The failing text's position in a many-text call, for ``InvalidInput``."""

class Overloaded(ClinferError):
    """The queue is full; retry after ``retry_after`` seconds."""

    retry_after: float

class DeadlineExceeded(ClinferError):
    """The request's deadline passed before the model served it."""

class ShuttingDown(ClinferError):
    """The pipeline is closing or closed and accepts no more work."""

class InvalidInput(ClinferError):
    """An input is unusable (too large, empty, not valid Unicode, ...); ``.index`` names it
    in a many-text call."""

class ConfigError(ClinferError):
    """A setting is invalid (an unknown name, a value the model or the scrubber cannot use)."""

class ModelLoadError(ClinferError):
    """The model could not be loaded (missing or malformed files, unavailable device)."""

@final
class Prediction:
    """One classification result."""

    @property
    def label(self) -> str:
        """The predicted label name."""
    @property
    def score(self) -> float:
        """The probability of the predicted label."""
    @property
    def logits(self) -> list[float]:
        """The raw logits, one per label."""

@final
class Classifier:
    """A DistilBERT sequence classifier loaded from a Hugging Face model directory."""

    def __new__(
        cls,
        model: str,
        *,
        device: str = "cpu",
        max_length: Optional[int] = None,
        dtype: str = "auto",
    ) -> "Classifier": ...
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Classifies each text; one Prediction per text, in order."""
    @property
    def labels(self) -> list[str]:
        """The label names, in logit order."""
    @property
    def dtype(self) -> str:
        """The precision mode that runs: f32, f16, bf16 or int8."""
    @property
    def kernel(self) -> str:
        """What computes the linear layers: avx512-f32, gemm-f32, avx512-bf16, bf16-emulated, amx-int8, avx512-vnni, avx2, portable, candle-cpu or candle-cuda."""

@final
class Span:
    """One span of PHI; offsets are Python string offsets (end exclusive)."""

    @property
    def start(self) -> int:
        """Offset of the first character."""
    @property
    def end(self) -> int:
        """Offset one past the last character."""
    @property
    def kind(self) -> str:
        """The kind of PHI, e.g. ``"NAME"``."""
    @property
    def score(self) -> float:
        """Confidence in [0, 1]."""

@final
class Redaction:
    """The result of Scrubber.redact."""

    @property
    def text(self) -> str:
        """The de-identified text."""
    @property
    def spans(self) -> list[Span]:
        """The spans found, offsets into the original text."""

@final
class Scrubber:
    """A HIPAA Safe Harbor de-identifier (regexes and dictionaries, deterministic)."""

    def __new__(
        cls,
        *,
        allow: Optional[Sequence[str]] = None,
        deny: Optional[Mapping[str, Sequence[str]]] = None,
    ) -> "Scrubber": ...
    def analyze(self, text: str) -> list[Span]:
        """Finds the PHI in ``text``."""
    def redact(
        self, text: str, operators: Optional[Mapping[str, str]] = None
    ) -> Redaction:
        """Replaces the PHI in ``text``; ``operators`` maps a kind (or ``"default"``) to
        ``tag``, ``remove``, ``mask`` (``*``), ``mask:C`` (the character ``C``), ``keep`` or
        ``year_only``; an unknown name raises ``ConfigError``."""

def drift_psi(reference: Sequence[int], current: Sequence[int]) -> float:
    """The population stability index of two histograms over the same bins, as the drift
    monitor computes it (empty bins filled the way Evidently fills them); raises
    ``InvalidInput`` when the bin counts differ."""

def drift_ks(reference: Sequence[int], current: Sequence[int]) -> float:
    """The two-sample Kolmogorov-Smirnov statistic of two histograms over the same ordered
    bins (the largest gap between their cumulative shares); raises ``InvalidInput`` when the
    bin counts differ."""

@final
class DriftSignal:
    """One drift signal of a Pipeline: value, state and thresholds."""

    @property
    def value(self) -> float:
        """The statistic (PSI; standardised mean shift for ``embedding``); NaN while warming up."""
    @property
    def state(self) -> str:
        """``"warming_up"``, ``"ok"``, ``"warn"`` or ``"alert"``."""
    @property
    def warn(self) -> float:
        """The warn threshold."""
    @property
    def alert(self) -> float:
        """The alert threshold."""
    @property
    def current(self) -> Optional[float]:
        """The window's rate, when the signal is a rate."""
    @property
    def reference(self) -> Optional[float]:
        """The reference's rate, when the signal is a rate."""
    @property
    def details(self) -> dict[str, float]:
        """Extra statistics (``chi2`` and ``p_value`` for ``label``, ``ks`` for ``score``)."""

@final
class DriftReport:
    """A Pipeline's drift report."""

    @property
    def state(self) -> str:
        """The worst signal's state, or ``"warming_up"``."""
    @property
    def requests(self) -> int:
        """Requests in the current window."""
    @property
    def reference_requests(self) -> int:
        """Requests in the reference."""
    @property
    def reference_source(self) -> str:
        """``collecting``, ``frozen``, ``sample`` or ``snapshot``."""
    @property
    def observed(self) -> int:
        """Requests observed since start."""
    @property
    def signals(self) -> dict[str, DriftSignal]:
        """Signal name to signal."""
    @property
    def memory_bytes(self) -> int:
        """The monitor's fixed memory in bytes."""

@final
class Classification:
    """The result of classifying one text with a Pipeline."""

    @property
    def label(self) -> str:
        """The predicted label name."""
    @property
    def score(self) -> float:
        """The probability of the predicted label."""
    @property
    def logits(self) -> list[float]:
        """The raw logits, one per label."""
    @property
    def redacted(self) -> Optional[str]:
        """The de-identified text the model saw (None when scrubbing is off)."""
    @property
    def phi_counts(self) -> dict[str, int]:
        """PHI entities replaced, per kind name."""
    @property
    def tokens(self) -> int:
        """Number of tokens the model saw."""
    @property
    def total_s(self) -> float:
        """Seconds from the call to the answer."""

@final
class Ticket:
    """A handle on one asynchronous request."""

    def cancel(self) -> None:
        """Withdraws the request; the callback is not called."""

@final
class Pipeline:
    """The native pipeline; use ``clinfer.Pipeline``, which adds asyncio support."""

    def __new__(
        cls,
        model: str,
        *,
        scrub: bool = True,
        device: str = "cpu",
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        queue_capacity: int = 1024,
        dtype: str = "auto",
        name: Optional[str] = None,
        version: Optional[str] = None,
        drift: bool = True,
        drift_reference_size: int = 1000,
        drift_window: int = 1000,
        drift_reference: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> "Pipeline": ...
    @property
    def name(self) -> Optional[str]:
        """The name given at construction (the ``model`` label of its metrics)."""
    @property
    def version(self) -> Optional[str]:
        """The version given at construction (the ``version`` label of its metrics)."""
    @property
    def dtype(self) -> str:
        """The precision mode the model runs."""
    @property
    def kernel(self) -> str:
        """What computes the model's linear layers."""
    def submit(
        self,
        text: str,
        callback: Callable[[Any, Optional[BaseException]], object],
        *,
        deadline_ms: Optional[float] = None,
        priority: Optional[int] = None,
    ) -> Ticket:
        """Submits one text; ``callback(result, error)`` runs on another thread."""
    def submit_many(
        self,
        texts: Sequence[str],
        callback: Callable[[Any, Optional[BaseException]], object],
        *,
        deadline_ms: Optional[float] = None,
        priority: Optional[int] = None,
    ) -> Ticket:
        """Submits many texts; the callback receives a list in input order."""
    def classify_blocking(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: Optional[int] = None
    ) -> Classification:
        """Classifies one text, blocking the calling thread."""
    def metrics(self) -> str:
        """Metrics in the Prometheus text format."""
    def drift(self) -> Optional[DriftReport]:
        """The drift report, or None when drift monitoring is off."""
    def save_drift_reference(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Saves the drift reference (JSON with a format version)."""
    def fit_drift_reference(self, texts: Sequence[str]) -> int:
        """Builds the drift reference from a sample of texts and installs it."""
    def is_ready(self) -> bool:
        """Whether the pipeline is warmed up and accepting work."""
    def close(self, drain_timeout_s: float = 5.0) -> bool:
        """Stops admission, drains for up to ``drain_timeout_s`` seconds."""
