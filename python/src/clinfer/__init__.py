"""clinfer: embeddable inference for clinical text.

DistilBERT classification, PHI de-identification and dynamic batching in the caller's
process, implemented in Rust. The GIL is released for all model and scrub work.

>>> import clinfer
>>> spans = clinfer.Scrubber().analyze("Call 555-201-3344.")
>>> [s.kind for s in spans]
['PHONE']
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
import atexit
from types import TracebackType
from typing import Any, Optional, Sequence, Type, TypeVar, Union

from clinfer._native import (
    Classification,
    Classifier,
    ClinferError,
    ConfigError,
    DeadlineExceeded,
    DriftReport,
    DriftSignal,
    InvalidInput,
    ModelLoadError,
    Overloaded,
    Prediction,
    Redaction,
    Scrubber,
    ShuttingDown,
    Span,
    __version__,
    drift_ks,
    drift_psi,
)
from clinfer import _native

__all__ = [
    "Classification",
    "Classifier",
    "ClinferError",
    "ConfigError",
    "DeadlineExceeded",
    "DriftReport",
    "DriftSignal",
    "InvalidInput",
    "ModelLoadError",
    "Overloaded",
    "Pipeline",
    "Prediction",
    "Redaction",
    "Scrubber",
    "ShuttingDown",
    "Span",
    "__version__",
    "drift_ks",
    "drift_psi",
]

_T = TypeVar("_T")
_open_pipelines: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()
_open_lock = threading.Lock()


def _resolver(loop: asyncio.AbstractEventLoop, fut: "asyncio.Future[Any]") -> Any:
    """A callback for the native side: called from a Rust thread with the GIL held."""

    def _set(value: Any, error: Optional[BaseException]) -> None:
        if fut.done():  # cancelled meanwhile
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def callback(value: Any, error: Optional[BaseException]) -> None:
        try:
            loop.call_soon_threadsafe(_set, value, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    return callback


class Pipeline:
    """Optional PHI scrubbing, dynamic batching and classification in one object.

    ``await pipe.classify(text)`` from any event loop (Jupyter included) or
    ``pipe.classify_blocking(text)`` from any thread. Concurrent calls share model batches.
    Use it as a context manager, or call :meth:`close`; open pipelines are closed at
    interpreter exit.
    """

    def __init__(
        self,
        model: str,
        *,
        scrub: bool = True,
        device: str = "cpu",
        max_batch_size: int = 32,
        max_wait_ms: float = 5,
        queue_capacity: int = 1024,
        dtype: str = "auto",
        name: Optional[str] = None,
        version: Optional[str] = None,
        drift: bool = True,
        drift_reference_size: int = 1000,
        drift_window: int = 1000,
        drift_reference: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> None:
        """``name`` and ``version`` (1 to 128 characters from ``[A-Za-z0-9_.:/-]``) label
        every metric (``model="..."``, ``version="..."``), so that several pipelines' metrics
        can be exposed together.

        Drift monitoring is on unless ``drift=False``: the reference is frozen from the first
        ``drift_reference_size`` requests unless ``drift_reference`` names a snapshot saved
        with :meth:`save_drift_reference`; the window holds the last ``drift_window``
        requests. See :meth:`drift`."""
        self._native = _native.Pipeline(
            model,
            scrub=scrub,
            device=device,
            max_batch_size=max_batch_size,
            max_wait_ms=float(max_wait_ms),
            queue_capacity=queue_capacity,
            dtype=dtype,
            name=name,
            version=version,
            drift=drift,
            drift_reference_size=drift_reference_size,
            drift_window=drift_window,
            drift_reference=None if drift_reference is None else os.fspath(drift_reference),
        )
        self._closed = False
        with _open_lock:
            _open_pipelines.add(self)

    async def classify(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> Classification:
        """Classifies one text. Cancelling the awaiting task withdraws the request.

        Raises Overloaded, DeadlineExceeded, ShuttingDown, InvalidInput or TypeError.
        """
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[Classification]" = loop.create_future()
        ticket = self._native.submit(
            text, _resolver(loop, fut), deadline_ms=_ms(deadline_ms), priority=priority
        )
        try:
            return await fut
        except asyncio.CancelledError:
            ticket.cancel()
            raise

    async def classify_many(
        self,
        texts: Sequence[str],
        *,
        deadline_ms: Optional[float] = None,
        priority: int = 1,
    ) -> list[Classification]:
        """Classifies many texts together; results keep input order."""
        loop = asyncio.get_running_loop()
        fut: "asyncio.Future[list[Classification]]" = loop.create_future()
        ticket = self._native.submit_many(
            texts, _resolver(loop, fut), deadline_ms=_ms(deadline_ms), priority=priority
        )
        try:
            return await fut
        except asyncio.CancelledError:
            ticket.cancel()
            raise

    def classify_blocking(
        self, text: str, *, deadline_ms: Optional[float] = None, priority: int = 1
    ) -> Classification:
        """Classifies one text, blocking this thread (not the others: the GIL is released)."""
        return self._native.classify_blocking(
            text, deadline_ms=_ms(deadline_ms), priority=priority
        )

    def metrics(self) -> str:
        """Metrics in the Prometheus text format (counts and times, never text)."""
        return self._native.metrics()

    def drift(self) -> Optional[DriftReport]:
        """The drift report: ``.state`` (``"warming_up"``, ``"ok"``, ``"warn"``, ``"alert"``),
        ``.requests`` in the current window and ``.signals`` (name to :class:`DriftSignal`);
        None when drift monitoring is off."""
        return self._native.drift()

    def save_drift_reference(self, path: "Union[str, os.PathLike[str]]") -> None:
        """Saves the drift reference as JSON (format version 1), for ``drift_reference=``.

        Raises ConfigError when monitoring is off or the reference is not complete yet."""
        self._native.save_drift_reference(os.fspath(path))

    def fit_drift_reference(self, texts: Sequence[str]) -> int:
        """Builds the drift reference from a sample of texts (scrubbed and classified, not
        counted as traffic) and installs it; returns how many texts it holds."""
        return self._native.fit_drift_reference(texts)

    @property
    def name(self) -> Optional[str]:
        """The name given at construction (the ``model`` label of its metrics), or None."""
        return self._native.name

    @property
    def version(self) -> Optional[str]:
        """The version given at construction (the ``version`` label of its metrics), or None."""
        return self._native.version

    @property
    def dtype(self) -> str:
        """The precision mode the model runs: ``f32``, ``f16``, ``bf16`` or ``int8``."""
        return self._native.dtype

    @property
    def kernel(self) -> str:
        """What computes the linear layers, picked from the CPU at run time: ``avx512-f32`` or
        ``gemm-f32`` (f32), ``avx512-bf16`` or ``bf16-emulated`` (bf16), ``amx-int8``,
        ``avx512-vnni``, ``avx2`` or ``portable`` (int8), ``candle-cpu`` (f16 on the CPU) or
        ``candle-cuda``."""
        return self._native.kernel

    def is_ready(self) -> bool:
        """Whether the model is warmed up and the pipeline accepts work."""
        return self._native.is_ready()

    def close(self, drain_timeout_s: float = 5.0) -> bool:
        """Stops admission (later calls raise ShuttingDown), serves what is queued for up to
        ``drain_timeout_s`` seconds and fails the rest. Returns whether all was served."""
        self._closed = True
        with _open_lock:
            _open_pipelines.discard(self)
        return self._native.close(float(drain_timeout_s))

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)


def _ms(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"deadline_ms must be a number or None, not {type(value).__name__}")
    return float(value)


def _forget_parent_pipelines() -> None:
    """In a child after os.fork(): the parent's pipelines are not usable here (their threads
    were not copied), so they are not closed at exit either."""
    global _open_lock
    _open_lock = threading.Lock()
    _open_pipelines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_pipelines)


@atexit.register
def _close_all() -> None:
    with _open_lock:
        pipes = list(_open_pipelines)
    for pipe in pipes:
        try:
            pipe.close(drain_timeout_s=1.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
