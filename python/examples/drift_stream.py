"""A drifting stream through a clinfer.Pipeline, and a plot of its drift signals over time.

The reference is fitted on 400 SST-2 dev sentences (movie reviews). The stream then sends
800 other dev sentences (no drift), then a ramp over 1,200 requests in which synthetic
clinical notes replace more and more of the reviews, then 800 notes only. Every 50 requests
it records each signal's value from ``pipe.drift()``; the plot marks the warn (0.1) and alert
(0.25) PSI thresholds. Nothing here stores or prints a note.

    python python/examples/drift_stream.py [--out docs/drift_psi_over_time.png]

Needs matplotlib and the SST-2 dev set in ../shared/data/sst2/dev.tsv (or --sst2 PATH).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import clinfer

ROOT = Path(__file__).resolve().parents[2]
SIGNALS = ["label", "score", "length", "unk", "phi_NAME", "phi_DATE", "embedding"]

# Synthetic values, made up for this example (not from any corpus).
FIRST = ["Alma", "Brook", "Cyrus", "Delphine", "Emery", "Florian", "Greta", "Hollis"]
LAST = ["Vantongeren", "Pellucci", "Marrowby", "Quist", "Oldenkamp", "Stravinski"]
PLACES = ["Lakeview Medical Center", "St. Orrin Hospital", "Bramble County Clinic"]


def note(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    date = f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/20{rng.randint(10, 25)}"
    vitals = f"BP {rng.randint(95, 170)}/{rng.randint(55, 100)}, HR {rng.randint(55, 120)}"
    return rng.choice(
        [
            f"Pt {name} seen {date} at {rng.choice(PLACES)}. {vitals}. Plan: continue abx.",
            f"{date}: spoke with daughter re {name}; callback 555-{rng.randint(200, 999)}-"
            f"{rng.randint(1000, 9999)}. {vitals}, afebrile, resting comfortably.",
            f"Nursing note. {vitals}. Family ({name}) at bedside {date}. Lungs clear, "
            "tolerating PO, ambulating with assist x1.",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "clinfer-demo-sst2"))
    ap.add_argument("--sst2", default=str(ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "drift_psi_over_time.png"))
    ap.add_argument("--seed", type=int, default=20261203)
    args = ap.parse_args()

    with open(args.sst2, newline="") as f:
        reviews = [
            r["sentence"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    rng = random.Random(args.seed)
    rng.shuffle(reviews)
    reference, pool = reviews[:400], reviews[400:]

    stream: list[str] = [pool[i % len(pool)] for i in range(800)]
    ramp = 1200
    for i in range(ramp):
        clinical = rng.random() < (i + 1) / ramp
        stream.append(note(rng) if clinical else pool[(800 + i) % len(pool)])
    stream += [note(rng) for _ in range(800)]

    every = 50
    xs: list[int] = []
    values: dict[str, list[float]] = {s: [] for s in SIGNALS}
    states: list[str] = []
    with clinfer.Pipeline(args.model, drift_window=400) as pipe:
        pipe.fit_drift_reference(reference)
        for i, text in enumerate(stream, 1):
            pipe.classify_blocking(text)
            if i % every == 0:
                r = pipe.drift()
                assert r is not None
                xs.append(i)
                states.append(r.state)
                for s in SIGNALS:
                    values[s].append(r.signals[s].value)
    for i, st in zip(xs, states):
        if i % 400 == 0:
            print(f"request {i:5d}: overall {st}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2]})
    for s in SIGNALS[:-1]:
        ax.plot(xs, values[s], label=s, linewidth=1.6)
    ax.axhline(0.1, color="orange", linestyle="--", linewidth=1, label="warn (PSI 0.1)")
    ax.axhline(0.25, color="red", linestyle="--", linewidth=1, label="alert (PSI 0.25)")
    ax.set_yscale("symlog", linthresh=0.05)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("PSI (window of 400 vs fitted reference)")
    ax.set_title("clinfer drift monitor: SST-2 reviews, then a ramp to clinical notes")
    ax.legend(ncol=3, fontsize=8, loc="upper left")
    for a in (ax, ax2):
        a.axvspan(800, 800 + ramp, color="grey", alpha=0.12)
    ax2.plot(xs, values["embedding"], color="purple", label="embedding (RMS Cohen's d)")
    ax2.axhline(0.2, color="orange", linestyle="--", linewidth=1)
    ax2.axhline(0.5, color="red", linestyle="--", linewidth=1)
    ax2.set_xlabel("requests (grey: share of notes ramps from 0 to 1)")
    ax2.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
