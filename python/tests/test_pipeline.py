"""clinfer.Pipeline: asyncio, batching, cancellation, threads, shutdown."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Iterator

import pytest

import clinfer
from conftest import expected_kernel

SENTENCES = [
    "a warm , funny and moving film",
    "a tedious , joyless mess",
    "one of the best films of the year",
    "the plot is thin and the acting is wooden",
]


@pytest.fixture()
def pipe(model_dir: str) -> Iterator[clinfer.Pipeline]:
    with clinfer.Pipeline(model_dir, max_batch_size=16, max_wait_ms=20) as p:
        yield p


def mean_batch_size(metrics: str) -> float:
    s = re.search(r"^clinfer_batcher_batch_size_sum (\S+)$", metrics, re.M)
    c = re.search(r"^clinfer_batcher_batch_size_count (\S+)$", metrics, re.M)
    assert s and c, "batch size histogram missing from metrics"
    return float(s.group(1)) / float(c.group(1))


def test_labels_match_classifier(pipe: clinfer.Pipeline, classifier: clinfer.Classifier) -> None:
    expected = [p.label for p in classifier.predict(SENTENCES)]
    got = [pipe.classify_blocking(s).label for s in SENTENCES]
    assert got == expected
    many = asyncio.run(pipe.classify_many(SENTENCES))
    assert [c.label for c in many] == expected


def test_concurrent_classify_batches(pipe: clinfer.Pipeline) -> None:
    async def main() -> list[clinfer.Classification]:
        return await asyncio.gather(*(pipe.classify(SENTENCES[i % 4]) for i in range(64)))

    results = asyncio.run(main())
    assert [r.label for r in results[:4]] * 16 == [r.label for r in results]
    assert mean_batch_size(pipe.metrics()) > 1.0
    assert pipe.is_ready()


def test_scrubbing_reports_phi(pipe: clinfer.Pipeline) -> None:
    c = pipe.classify_blocking("Mr. John Smith called 555-201-3344 : a warm , funny film")
    assert c.redacted is not None and "555-201-3344" not in c.redacted
    assert c.phi_counts.get("PHONE") == 1
    assert "555-201-3344" not in pipe.metrics() and "Smith" not in pipe.metrics()


def test_many_threads(pipe: clinfer.Pipeline) -> None:
    labels: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for s in SENTENCES:
            label = pipe.classify_blocking(s).label
            with lock:
                labels.append(label)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(labels) == 32


def test_cancellation_withdraws_request(model_dir: str) -> None:
    with clinfer.Pipeline(model_dir, max_batch_size=1, max_wait_ms=0) as p:

        async def main() -> None:
            tasks = [asyncio.ensure_future(p.classify(SENTENCES[0])) for _ in range(50)]
            await asyncio.sleep(0)
            for t in tasks[1:]:
                t.cancel()
            assert (await tasks[0]).label in ("POSITIVE", "NEGATIVE")
            results = await asyncio.gather(*tasks[1:], return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)

        asyncio.run(main())
        served = re.search(r"^clinfer_batcher_batch_size_sum (\S+)$", p.metrics(), re.M)
        assert served is not None and float(served.group(1)) < 50


def test_close_then_shutting_down(model_dir: str) -> None:
    p = clinfer.Pipeline(model_dir)
    assert p.classify_blocking(SENTENCES[0]).label
    assert p.close(drain_timeout_s=1.0) is True
    with pytest.raises(clinfer.ShuttingDown):
        p.classify_blocking(SENTENCES[0])
    with pytest.raises(clinfer.ShuttingDown):
        asyncio.run(p.classify(SENTENCES[0]))


def test_deadline_and_bad_input(pipe: clinfer.Pipeline) -> None:
    with pytest.raises(clinfer.DeadlineExceeded):
        asyncio.run(pipe.classify(SENTENCES[0], deadline_ms=0))
    with pytest.raises(TypeError):
        asyncio.run(pipe.classify(None))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        asyncio.run(pipe.classify("x", deadline_ms="soon"))  # type: ignore[arg-type]
    with pytest.raises(clinfer.InvalidInput):
        asyncio.run(pipe.classify("abc \ud800"))
    with pytest.raises(clinfer.InvalidInput):
        pipe.classify_blocking("a" * (2 << 20))
    with pytest.raises(ValueError):
        pipe.classify_blocking("x", deadline_ms=-1)


def test_overloaded_has_retry_after(model_dir: str) -> None:
    with clinfer.Pipeline(model_dir, max_batch_size=1, queue_capacity=1, max_wait_ms=0) as p:

        async def main() -> list[object]:
            return await asyncio.gather(
                *(p.classify(SENTENCES[1] * 20) for _ in range(40)), return_exceptions=True
            )

        results = asyncio.run(main())
        over = [r for r in results if isinstance(r, clinfer.Overloaded)]
        assert over, "a queue of one should overflow with 40 concurrent requests"
        assert all(isinstance(o.retry_after, float) and o.retry_after >= 0 for o in over)


def test_int8_pipeline_says_what_runs_and_agrees(model_dir: str, classifier: clinfer.Classifier) -> None:
    expected = [p.label for p in classifier.predict(SENTENCES)]
    with clinfer.Pipeline(model_dir, dtype="int8") as p:
        assert p.dtype == "int8"
        assert p.kernel in ("amx-int8", "avx512-vnni", "avx2", "portable")
        got = asyncio.run(p.classify_many(SENTENCES))
    assert [c.label for c in got] == expected
    with clinfer.Pipeline(model_dir) as p:
        assert (p.dtype, p.kernel) == ("f32", expected_kernel("f32"))
