"""Python twin of `cargo run --release --example quickstart`.

De-identifies a handful of synthetic clinical notes and classifies them through clinfer's
Pipeline (PHI scrub -> tokenize -> dynamic batcher -> DistilBERT), all in this process:

    pip install ./python
    python python/examples/quickstart.py [--model DIR]

The bundled model (models/clinfer-demo-sst2) is a small sentiment model distilled on SST-2
movie reviews: it shows the mechanics, not a clinical judgement. Every name, date, number and
place below is invented.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import time

import clinfer

NOTES = [
    "Pt Maria Gonzalez (MRN 4481723) seen by Dr. Okafor on 03/14/2024. She says the new "
    "physical therapy is wonderful and she feels stronger every day.",
    "Called patient at (617) 555-0143 re: missed appointment. Pt's husband John reports the "
    "wait at Springfield General Hospital was awful and the staff were rude.",
    "Discharge summary 2023-11-02: Mr. Chen, 67 y/o, tolerated the procedure well. Family "
    "grateful for the excellent, attentive care.",
    "Follow-up email to r.patel@example.org: patient frustrated, describes the billing "
    "process as a confusing, exhausting mess.",
    "RN note, 12 Elm Street, Boston MA 02118: pleasant visit, patient cheerful and engaged.",
    "SSN 078-05-1120 on file. Pt states the medication makes her miserable and she wants to stop.",
]

DEFAULT_MODEL = pathlib.Path(__file__).resolve().parents[2] / "models" / "clinfer-demo-sst2"


async def main(model: str) -> None:
    with clinfer.Pipeline(model, scrub=True, max_batch_size=8, max_wait_ms=5) as pipe:
        started = time.perf_counter()
        # Concurrent calls: the batcher merges them into few forward passes.
        results = await asyncio.gather(*(pipe.classify(note) for note in NOTES))
        wall_ms = (time.perf_counter() - started) * 1e3
        for i, r in enumerate(results, 1):
            print(f"note {i}: {r.label} ({r.score:.3f})")
            print(f"  redacted: {r.redacted}")
            print(f"  phi: {dict(r.phi_counts)}")
        print(f"\n{len(results)} notes in {wall_ms:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    asyncio.run(main(parser.parse_args().model))
