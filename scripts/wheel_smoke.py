"""Smoke test of an installed clinfer wheel (run by scripts/build-wheel.sh in a fresh venv).

Checks that the module comes from the installed wheel, that its metadata is what the
project publishes, and that each piece works: the scrubber, the classifier on the bundled
demo model and the pipeline.
"""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import os
import pathlib
import sys

import clinfer

dist = os.environ.get("CLINFER_SMOKE_DIST", "clinfer")
model = os.environ["CLINFER_SMOKE_MODEL"]

where = pathlib.Path(clinfer.__file__).resolve()
assert "site-packages" in where.parts, f"clinfer imported from {where}, not the wheel"
meta = md.metadata(dist)
assert meta["Version"] == clinfer.__version__, (meta["Version"], clinfer.__version__)
assert meta["Requires-Python"] == ">=3.9", meta["Requires-Python"]
assert "gateway" in (meta.get_all("Provides-Extra") or []), "no gateway extra"
assert meta.get_all("Classifier"), "no classifiers"
assert meta.get_all("Project-URL"), "no project URLs"
assert (meta["Description-Content-Type"] or "").startswith("text/markdown"), meta["Description-Content-Type"]
files = {str(f) for f in md.files(dist) or []}
for needed in ("clinfer/py.typed", "clinfer/_native.pyi", "clinfer/gateway/__init__.py"):
    assert needed in files, f"{needed} missing from the wheel"

note = "Seen by Dr. Alvarez on 03/14/2023. Call 555-201-3344."
kinds = {s.kind for s in clinfer.Scrubber().analyze(note)}
assert {"NAME", "DATE", "PHONE"} <= kinds, kinds

clf = clinfer.Classifier(model)
preds = clf.predict(["a warm , funny and moving film", "a tedious , joyless mess"])
assert [p.label for p in preds] == ["POSITIVE", "NEGATIVE"], [p.label for p in preds]


async def burst() -> list[clinfer.Classification]:
    with clinfer.Pipeline(model, max_wait_ms=2) as pipe:
        return await asyncio.gather(*(pipe.classify(note) for _ in range(16)))


results = asyncio.run(burst())
assert all(r.redacted is not None and "555-201-3344" not in r.redacted for r in results)
print(
    f"smoke ok: {dist} {clinfer.__version__} on Python {sys.version.split()[0]}, "
    f"kernel {clf.kernel}, {len(results)} pipeline results"
)
