"""clinfer's drift statistics agree with maintained implementations on the same binned
inputs: PSI with Evidently's (``evidently.legacy``'s ``psi`` stat test, categorical over bin
indices), KS with SciPy's ``ks_2samp`` (on binned samples the statistic is the largest gap
between cumulative shares at bin edges, which is what clinfer computes)."""

from __future__ import annotations

import csv
import math
import random

import numpy as np
import warnings

import pandas as pd
import pytest
from scipy.stats import ks_2samp

with warnings.catch_warnings():
    # evidently 0.7 touches numpy.core at import (deprecated in numpy 2): not ours to fix
    warnings.simplefilter("ignore", DeprecationWarning)
    from evidently.legacy.calculations.stattests import psi as evidently_psi
    from evidently.legacy.core import ColumnType

import clinfer

from conftest import SHARED, _missing

# PSI: both sides compute the same sums in double precision, in a different order.
PSI_RTOL = 1e-9
# KS: SciPy's statistic comes from searchsorted on the expanded samples: exact up to rounding.
KS_ATOL = 1e-12


def _expand(counts: list[int]) -> pd.Series:
    return pd.Series(np.repeat(np.arange(len(counts)), counts))


def _evidently(ref: list[int], cur: list[int]) -> float:
    value, _ = evidently_psi._psi(_expand(ref), _expand(cur), ColumnType.Categorical, 0.1)
    return float(value)


def _histograms(rng: random.Random) -> tuple[list[int], list[int]]:
    bins = rng.choice([2, 3, 10, 20, 50])
    n_ref, n_cur = rng.choice([30, 200, 1000, 20000]), rng.choice([30, 200, 1000, 20000])
    shift = rng.uniform(-0.5, 0.5)
    ref_w = [math.exp(-((i / bins - 0.5) ** 2) * 8) for i in range(bins)]
    cur_w = [math.exp(-((i / bins - 0.5 - shift) ** 2) * 8) for i in range(bins)]
    ref = [0] * bins
    cur = [0] * bins
    for i in rng.choices(range(bins), weights=ref_w, k=n_ref):
        ref[i] += 1
    for i in rng.choices(range(bins), weights=cur_w, k=n_cur):
        cur[i] += 1
    # empty bins on one side, on the other, and on both
    if bins > 3 and rng.random() < 0.5:
        ref[rng.randrange(bins)] = 0
        cur[rng.randrange(bins)] = 0
        k = rng.randrange(bins)
        ref[k] = cur[k] = 0
    if sum(ref) == 0 or sum(cur) == 0:
        ref[0] += 1
        cur[-1] += 1
    return ref, cur


def test_psi_matches_evidently_and_ks_matches_scipy_on_random_histograms() -> None:
    rng = random.Random(20261203)
    for case in range(200):
        ref, cur = _histograms(rng)
        ours = clinfer.drift_psi(ref, cur)
        theirs = _evidently(ref, cur)
        assert ours == pytest.approx(theirs, rel=PSI_RTOL, abs=1e-15), (case, ref, cur)
        ks = clinfer.drift_ks(ref, cur)
        # the statistic does not depend on how the p-value is computed
        want = ks_2samp(
            np.repeat(np.arange(len(ref)), ref),
            np.repeat(np.arange(len(cur)), cur),
            method="asymp",
        )
        assert abs(ks - float(want.statistic)) <= KS_ATOL, (case, ref, cur)


def test_tiny_shares_get_evidentlys_fill() -> None:
    # A share at or below 0.0001 changes the fill of empty bins to a millionth of it.
    ref, cur = [1, 20000, 0], [0, 5000, 5000]
    assert clinfer.drift_psi(ref, cur) == pytest.approx(_evidently(ref, cur), rel=PSI_RTOL)
    same = [5, 7, 0, 11]
    assert clinfer.drift_psi(same, same) == 0.0 == clinfer.drift_ks(same, same)
    with pytest.raises(clinfer.InvalidInput):
        clinfer.drift_psi([1, 2], [1, 2, 3])


def test_the_pipelines_label_psi_is_evidentlys_on_its_predictions(model_dir: str) -> None:
    dev = SHARED / "data" / "sst2" / "dev.tsv"
    if not dev.exists():
        _missing(f"{dev} is absent")
    with dev.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rng = random.Random(5)
    rng.shuffle(rows)
    # a positive-heavy current sample moves the predicted-label distribution
    ref = [r["sentence"] for r in rows[:300]]
    pos = [r["sentence"] for r in rows[300:] if r["label"] == "1"][:240]
    neg = [r["sentence"] for r in rows[300:] if r["label"] == "0"][:60]
    cur = pos + neg
    rng.shuffle(cur)
    with clinfer.Pipeline(model_dir, drift_reference_size=300, drift_window=300) as pipe:
        ref_labels = [pipe.classify_blocking(t).label for t in ref]
        cur_labels = [pipe.classify_blocking(t).label for t in cur]
        r = pipe.drift()
    assert r is not None and r.reference_requests == 300
    window = cur_labels[-r.requests :]
    value, _ = evidently_psi._psi(
        pd.Series(ref_labels), pd.Series(window), ColumnType.Categorical, 0.1
    )
    assert r.signals["label"].value == pytest.approx(float(value), rel=PSI_RTOL)
    assert r.signals["label"].value > 0.0
