"""Process and thread hazards: fork, re-entrant calls from callbacks, Ctrl-C during waits."""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

import clinfer

SENTENCE = "a warm , funny and moving film"


def _in_child(body: Any) -> int:
    """Runs ``body()`` in a forked child (killed by SIGALRM after 60 s if it hangs) and
    returns its exit status: 0 when ``body`` returned True."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            signal.alarm(60)
            code = 0 if body() else 2
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_objects_from_the_parent_raise_after_fork(model_dir: str) -> None:
    pipe = clinfer.Pipeline(model_dir, scrub=False)
    clf = clinfer.Classifier(model_dir)
    assert pipe.classify_blocking(SENTENCE).label
    assert clf.predict([SENTENCE])

    def child() -> bool:
        outcomes = []
        for call in (
            lambda: pipe.classify_blocking(SENTENCE),
            lambda: clf.predict([SENTENCE]),
            lambda: clinfer.Pipeline(model_dir),  # the parent's pools are gone here too
            lambda: clinfer.Classifier(model_dir),
        ):
            try:
                call()
                outcomes.append("ran")
            except RuntimeError as e:
                outcomes.append("fork" if "os.fork()" in str(e) else "other")
        # the scrubber has no threads: it keeps working in the child
        ok = [s.kind for s in clinfer.Scrubber().analyze("Call 555-201-3344.")] == ["PHONE"]
        return ok and outcomes == ["fork"] * 4

    try:
        assert _in_child(child) == 0
    finally:
        pipe.close()


def test_classify_blocking_inside_a_callback_raises_instead_of_deadlocking(
    model_dir: str,
) -> None:
    pipe = clinfer.Pipeline(model_dir, scrub=False)
    done = threading.Event()
    seen: list[Optional[BaseException]] = []

    def callback(value: Any, error: Optional[BaseException]) -> None:
        try:
            pipe._native.classify_blocking(SENTENCE)
            seen.append(None)
        except BaseException as e:  # noqa: BLE001
            seen.append(e)
        done.set()

    try:
        pipe._native.submit(SENTENCE, callback)
        assert done.wait(60)
        assert isinstance(seen[0], RuntimeError) and "callback" in str(seen[0])
        # and the pipeline still serves everyone else
        assert pipe.classify_blocking(SENTENCE).label
    finally:
        pipe.close()


@pytest.fixture(autouse=True)
def _sigint_raises() -> "Iterator[None]":
    """Ctrl-C raises KeyboardInterrupt even when this process inherited SIGINT as ignored (a
    background job of a non-interactive shell does): interrupt_main() is a no-op then."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def test_ctrl_c_interrupts_a_blocking_wait(model_dir: str) -> None:
    # one request in a pipeline that waits up to a minute to fill a batch of 32
    pipe = clinfer.Pipeline(model_dir, scrub=False, max_batch_size=32, max_wait_ms=60_000)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            pipe.classify_blocking(SENTENCE)
        # the wait was interrupted, not merely followed by the interrupt: the request was
        # withdrawn from the queue and never answered
        # (the abort reaches the queue asynchronously: wait for it, up to a minute)
        cancelled = 'clinfer_batcher_failures_total{reason="cancelled"} 1'
        for _ in range(600):
            metrics = pipe.metrics()
            if cancelled in metrics:
                break
            time.sleep(0.1)
        assert cancelled in metrics, metrics
        assert 'outcome="ok"' not in metrics, metrics
    finally:
        timer.cancel()
        pipe.close(drain_timeout_s=0)


def _helper_threads() -> int:
    """Threads of this process named ``clinfer-call`` (Linux: /proc/self/task/*/comm)."""
    return sum(
        1
        for comm in Path("/proc/self/task").glob("*/comm")
        if comm.read_text().strip() == "clinfer-call"
    )


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_ctrl_c_interrupts_a_long_scrub() -> None:
    text = "Seen by Dr. Alvarez on 03/14/2023 (555-201-3344). " * 200_000  # ~10 MB
    scrubber = clinfer.Scrubber()
    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            scrubber.analyze(text)
        # interrupted while the scrub still runs on its helper thread (an interrupt that only
        # arrived after the scrub returned would leave no helper behind)
        assert _helper_threads() == 1
    finally:
        timer.cancel()
