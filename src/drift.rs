//! Drift monitoring: does recent traffic still look like the traffic the model was validated
//! on?
//!
//! Every [`Pipeline`](crate::Pipeline) runs a [`DriftMonitor`] unless it is built with
//! [`DriftConfig::disabled`] ([`PipelineBuilder::drift`](crate::PipelineBuilder::drift)); it
//! is fed one [`Observation`] per successful classification, after scrubbing, and read with
//! [`Pipeline::drift`](crate::Pipeline::drift). Each observation adds (the predicted
//! label, the top score, the token count, whether the input was truncated, the number of
//! unknown-word tokens, which PHI kinds the scrubber found, and the pooled `[CLS]` vector) to
//! fixed-size sketches: counts and histograms, never text. Two sketches are compared:
//!
//! - the **reference**: the first [`DriftConfig::reference_size`] requests after start, a
//!   sample the caller supplies ([`DriftMonitor::reference_from`]),
//!   or a saved [`DriftReference`] snapshot (JSON with a format version), so that a
//!   deployment compares against the reference it was validated with;
//! - the **window**: the last [`DriftConfig::window`] requests (kept as ten rotating
//!   sub-windows, so the window slides by tenths), dropping sub-windows older than
//!   [`DriftConfig::window_duration`].
//!
//! Signals (names are stable: report keys and the `signal` metric label):
//!
//! | signal | statistic | default warn / alert |
//! |---|---|---|
//! | `label` | PSI of the predicted-label shares (the report also gives Pearson's chi-squared and its p-value) | 0.1 / 0.25 |
//! | `score` | PSI of the top score in 20 bins over \[0, 1\] (also the two-sample Kolmogorov–Smirnov statistic on those bins) | 0.1 / 0.25 |
//! | `length` | PSI of the input length in tokens (bins growing by √2 up to `max_length`) | 0.1 / 0.25 |
//! | `truncation` | PSI of the share of truncated inputs | 0.1 / 0.25 |
//! | `unk` | PSI of the share of `[UNK]` tokens among all tokens | 0.1 / 0.25 |
//! | `phi_<KIND>` | PSI of the share of requests in which the scrubber found that kind (one per kind, e.g. `phi_NAME`; only when scrubbing) | 0.1 / 0.25 |
//! | `embedding` | root mean square over dimensions of the standardised shift of the window's mean pooled `[CLS]` vector from the reference's (Cohen's d per dimension) | 0.2 / 0.5 |
//!
//! PSI (population stability index) is `Σ (r − c) · ln(r / c)` over bins of reference and
//! window shares; empty bins are filled as Evidently fills them, so the values agree with
//! Evidently's `psi` test on the same bins. 0.1 and 0.25 are the thresholds the credit-risk
//! literature uses for "some shift" and "significant shift". A signal's state is `alert` at or
//! above its alert threshold, `warn` at or above warn, `ok` below; the overall state is the
//! worst signal's; `warming_up` until the reference is complete and the window holds at
//! least half its size.
//!
//! Cost: one lock and a few counter increments per request, plus `dim` additions for the
//! embedding; no allocation per request once running. Memory is fixed at start (see
//! [`DriftReport::memory_bytes`]): 12 sketches of about `8 × (dim + labels + 60)` bytes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use clinfer_batcher::prometheus_client::metrics::family::Family;
use clinfer_batcher::prometheus_client::metrics::gauge::Gauge;
use clinfer_batcher::prometheus_client::registry::Registry;
use clinfer_phi::Kind;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::sync::atomic::AtomicU64;

/// The `format` field of a saved [`DriftReference`].
pub const REFERENCE_FORMAT: &str = "clinfer-drift-reference";
/// The `format_version` a saved [`DriftReference`] is written with (and the only one read).
pub const REFERENCE_FORMAT_VERSION: u32 = 1;

/// Bins of the top-score histogram, equal-width over [0, 1].
const SCORE_BINS: usize = 20;
/// Sub-windows the window is kept in (it slides by one of them at a time).
const SUB_WINDOWS: usize = 10;
/// Number of PHI kinds (bit positions in [`Observation::phi_kinds`]).
const KINDS: usize = Kind::ALL.len();
/// Largest accepted window or reference size: keeps counts exact and memory trivially
/// bounded.
const MAX_REQUESTS: usize = 100_000_000;

/// A drift state, of one signal or overall. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// Not enough data yet: the reference is still being collected, or the window holds
    /// less than half its size.
    WarmingUp,
    /// Below the warn threshold.
    Ok,
    /// At or above the warn threshold.
    Warn,
    /// At or above the alert threshold.
    Alert,
}

impl DriftState {
    /// The stable name: `warming_up`, `ok`, `warn` or `alert`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DriftState::WarmingUp => "warming_up",
            DriftState::Ok => "ok",
            DriftState::Warn => "warn",
            DriftState::Alert => "alert",
        }
    }

    /// The value of the `clinfer_drift_state` gauge: 0 ok, 1 warn, 2 alert, −1 warming up.
    #[must_use]
    pub const fn level(self) -> i64 {
        match self {
            DriftState::WarmingUp => -1,
            DriftState::Ok => 0,
            DriftState::Warn => 1,
            DriftState::Alert => 2,
        }
    }
}

impl std::fmt::Display for DriftState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Warn and alert thresholds of one signal (`0 ≤ warn ≤ alert`, finite).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// The value at or above which the signal is in `warn`.
    pub warn: f64,
    /// The value at or above which the signal is in `alert`.
    pub alert: f64,
}

impl Thresholds {
    /// The PSI thresholds of the literature: 0.1 warn, 0.25 alert.
    pub const PSI: Thresholds = Thresholds {
        warn: 0.1,
        alert: 0.25,
    };
    /// The embedding thresholds: a mean shift of 0.2 (warn) or 0.5 (alert) reference
    /// standard deviations, Cohen's "small" and "medium" effects.
    pub const EMBEDDING: Thresholds = Thresholds {
        warn: 0.2,
        alert: 0.5,
    };

    fn state(&self, value: f64) -> DriftState {
        if value >= self.alert {
            DriftState::Alert
        } else if value >= self.warn {
            DriftState::Warn
        } else {
            DriftState::Ok
        }
    }
}

/// Settings of a drift monitor; pass to [`DriftMonitor::new`].
///
/// Defaults: on; reference frozen from the first 1,000 requests; window of the last 1,000
/// requests and at most one hour; evaluated (gauges updated, state changes logged) every 100
/// requests; thresholds as in the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct DriftConfig {
    enabled: bool,
    reference_size: usize,
    window: usize,
    window_duration: Option<Duration>,
    evaluate_every: Option<usize>,
    thresholds: BTreeMap<String, Thresholds>,
    reference: Option<DriftReference>,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            reference_size: 1000,
            window: 1000,
            window_duration: Some(Duration::from_secs(3600)),
            evaluate_every: None,
            thresholds: BTreeMap::new(),
            reference: None,
        }
    }
}

impl DriftConfig {
    /// A monitor that is off (for a host that reads [`DriftConfig::is_enabled`]).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Whether the monitor is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Requests frozen into the reference when no reference is given (default 1,000).
    pub fn reference_size(mut self, requests: usize) -> Self {
        self.reference_size = requests;
        self
    }

    /// Requests in the sliding window (default 1,000; at least 10).
    pub fn window(mut self, requests: usize) -> Self {
        self.window = requests;
        self
    }

    /// Oldest age of a request in the window (default one hour; `None`: by count only).
    /// Sub-windows whose last request is older are left out.
    pub fn window_duration(mut self, duration: Option<Duration>) -> Self {
        self.window_duration = duration;
        self
    }

    /// Requests between evaluations that update the gauges and log state changes (default:
    /// a tenth of the window). [`DriftMonitor::report`] always evaluates afresh.
    pub fn evaluate_every(mut self, requests: usize) -> Self {
        self.evaluate_every = Some(requests);
        self
    }

    /// Thresholds of one signal (`label`, `score`, `length`, `truncation`, `unk`,
    /// `phi_<KIND>`, `embedding`), replacing its defaults.
    pub fn thresholds(mut self, signal: impl Into<String>, thresholds: Thresholds) -> Self {
        self.thresholds.insert(signal.into(), thresholds);
        self
    }

    /// A saved reference to compare against, instead of freezing the first requests.
    pub fn reference(mut self, reference: DriftReference) -> Self {
        self.reference = Some(reference);
        self
    }

    fn validate(&self) -> Result<(), String> {
        if self.reference_size == 0 || self.reference_size > MAX_REQUESTS {
            return Err(format!(
                "drift reference_size must be between 1 and {MAX_REQUESTS}"
            ));
        }
        if self.window < SUB_WINDOWS || self.window > MAX_REQUESTS {
            return Err(format!(
                "drift window must be between {SUB_WINDOWS} and {MAX_REQUESTS} requests"
            ));
        }
        if self.window_duration == Some(Duration::ZERO) {
            return Err("drift window_duration must be positive (or None)".into());
        }
        if self.evaluate_every == Some(0) {
            return Err("drift evaluate_every must be at least 1".into());
        }
        for (signal, t) in &self.thresholds {
            if !is_signal_name(signal) {
                return Err(format!(
                    "drift thresholds: unknown signal of {} bytes (label, score, length, truncation, unk, phi_<KIND>, embedding)",
                    signal.len()
                ));
            }
            if !(t.warn.is_finite() && t.alert.is_finite() && 0.0 <= t.warn && t.warn <= t.alert) {
                return Err(format!(
                    "drift thresholds of {signal}: need 0 <= warn <= alert, both finite"
                ));
            }
        }
        Ok(())
    }

    fn thresholds_of(&self, signal: &str) -> Thresholds {
        self.thresholds
            .get(signal)
            .copied()
            .unwrap_or(if signal == "embedding" {
                Thresholds::EMBEDDING
            } else {
                Thresholds::PSI
            })
    }
}

fn is_signal_name(s: &str) -> bool {
    matches!(
        s,
        "label" | "score" | "length" | "truncation" | "unk" | "embedding"
    ) || s
        .strip_prefix("phi_")
        .is_some_and(|k| Kind::ALL.iter().any(|kind| kind.as_str() == k))
}

/// What the monitor needs of a model: label names, the longest encoding, the size of the
/// pooled vector (0: no embedding signal) and whether inputs are scrubbed (PHI signals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelShape {
    /// Label names by index.
    pub labels: Vec<String>,
    /// The tokenizer's `max_length`.
    pub max_length: usize,
    /// Length of [`Observation::embedding`]; 0 when none is given.
    pub embedding_dim: usize,
    /// Whether the PHI signals are computed.
    pub scrubbed: bool,
}

/// One successful request, as the monitor sees it: numbers only.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The predicted label's index.
    pub label_id: usize,
    /// The predicted label's score.
    pub score: f32,
    /// Tokens the model saw.
    pub tokens: usize,
    /// Whether the input was truncated.
    pub truncated: bool,
    /// `[UNK]` tokens among them.
    pub unk_tokens: usize,
    /// PHI kinds found, one bit per kind (see [`phi_bit`]).
    pub phi_kinds: u32,
    /// The pooled `[CLS]` vector, when the model gives it (ignored if its length is not the
    /// monitor's `embedding_dim`).
    pub embedding: Option<&'a [f32]>,
}

/// The bit of `kind` in [`Observation::phi_kinds`].
#[must_use]
pub fn phi_bit(kind: Kind) -> u32 {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .map_or(0, |i| 1u32 << i)
}

/// Fixed-size sketch of a set of requests.
#[derive(Debug, Clone)]
struct Sketch {
    n: u64,
    labels: Vec<u64>,
    score: [u64; SCORE_BINS],
    length: Vec<u64>,
    truncated: u64,
    tokens: u64,
    unk: u64,
    phi: [u64; KINDS],
    emb_n: u64,
    emb_sum: Vec<f64>,
    /// Sums of squares: kept for the reference only (empty in window sketches).
    emb_sq: Vec<f64>,
    last: Option<Instant>,
}

impl Sketch {
    fn new(layout: &Layout, squares: bool) -> Self {
        Self {
            n: 0,
            labels: vec![0; layout.labels],
            score: [0; SCORE_BINS],
            length: vec![0; layout.length_edges.len()],
            truncated: 0,
            tokens: 0,
            unk: 0,
            phi: [0; KINDS],
            emb_n: 0,
            emb_sum: vec![0.0; layout.dim],
            emb_sq: if squares {
                vec![0.0; layout.dim]
            } else {
                Vec::new()
            },
            last: None,
        }
    }

    fn clear(&mut self) {
        self.n = 0;
        self.labels.fill(0);
        self.score = [0; SCORE_BINS];
        self.length.fill(0);
        self.truncated = 0;
        self.tokens = 0;
        self.unk = 0;
        self.phi = [0; KINDS];
        self.emb_n = 0;
        self.emb_sum.fill(0.0);
        self.emb_sq.fill(0.0);
        self.last = None;
    }

    fn add(&mut self, obs: &Observation<'_>, layout: &Layout, now: Instant) {
        self.n += 1;
        if let Some(c) = self.labels.get_mut(obs.label_id) {
            *c += 1;
        }
        self.score[score_bin(obs.score)] += 1;
        self.length[layout.length_bin(obs.tokens)] += 1;
        self.truncated += u64::from(obs.truncated);
        self.tokens += obs.tokens as u64;
        self.unk += obs.unk_tokens.min(obs.tokens) as u64;
        let mut bits = obs.phi_kinds;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            if let Some(c) = self.phi.get_mut(i) {
                *c += 1;
            }
            bits &= bits - 1;
        }
        if let Some(e) = obs.embedding {
            if e.len() == layout.dim && layout.dim > 0 && e.iter().all(|x| x.is_finite()) {
                self.emb_n += 1;
                for (s, &x) in self.emb_sum.iter_mut().zip(e) {
                    *s += f64::from(x);
                }
                for (s, &x) in self.emb_sq.iter_mut().zip(e) {
                    *s += f64::from(x) * f64::from(x);
                }
            }
        }
        self.last = Some(now);
    }

    fn merge(&mut self, o: &Sketch) {
        self.n += o.n;
        for (a, b) in self.labels.iter_mut().zip(&o.labels) {
            *a += b;
        }
        for (a, b) in self.score.iter_mut().zip(&o.score) {
            *a += b;
        }
        for (a, b) in self.length.iter_mut().zip(&o.length) {
            *a += b;
        }
        self.truncated += o.truncated;
        self.tokens += o.tokens;
        self.unk += o.unk;
        for (a, b) in self.phi.iter_mut().zip(&o.phi) {
            *a += b;
        }
        self.emb_n += o.emb_n;
        for (a, b) in self.emb_sum.iter_mut().zip(&o.emb_sum) {
            *a += b;
        }
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + 8 * (self.labels.capacity() + self.length.capacity())
            + 8 * (self.emb_sum.capacity() + self.emb_sq.capacity())
    }
}

fn score_bin(score: f32) -> usize {
    if !score.is_finite() || score <= 0.0 {
        return 0;
    }
    // truncation towards zero is the binning; the clamp keeps 1.0 in the last bin
    ((f64::from(score) * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1)
}

/// The bins every sketch of one monitor shares.
#[derive(Debug, Clone)]
struct Layout {
    labels: usize,
    /// Upper bounds (inclusive) of the length bins; the last is `max_length`.
    length_edges: Vec<u32>,
    dim: usize,
}

impl Layout {
    fn new(shape: &ModelShape) -> Self {
        Self {
            labels: shape.labels.len().max(1),
            length_edges: length_edges(shape.max_length),
            dim: shape.embedding_dim,
        }
    }

    fn length_bin(&self, tokens: usize) -> usize {
        let t = u32::try_from(tokens).unwrap_or(u32::MAX);
        self.length_edges
            .partition_point(|&e| e < t)
            .min(self.length_edges.len() - 1)
    }
}

/// Length bins: upper bounds 4, 6, 8, 11, 16, 23, 32, … (×√2, rounded), then `max_length`.
fn length_edges(max_length: usize) -> Vec<u32> {
    let max = u32::try_from(max_length.max(1)).unwrap_or(u32::MAX);
    let mut edges = Vec::new();
    let mut k = 0i32;
    loop {
        let e = (4.0 * 2f64.powf(f64::from(k) / 2.0)).round() as u32;
        if e >= max {
            break;
        }
        if edges.last() != Some(&e) {
            edges.push(e);
        }
        k += 1;
    }
    edges.push(max);
    edges
}

/// Population stability index of two histograms over the same bins, Evidently's way: bins
/// empty on both sides are left out; a side's empty bins get 0.0001 (or a millionth of its
/// smallest share, if that is at most 0.0001).
#[must_use]
pub fn psi(reference: &[u64], current: &[u64]) -> f64 {
    let nr: u64 = reference.iter().sum();
    let nc: u64 = current.iter().sum();
    if nr == 0 || nc == 0 {
        return 0.0;
    }
    let share = |c: u64, n: u64| c as f64 / n as f64;
    let fill = |counts: &[u64], n: u64| {
        let min = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| share(c, n))
            .fold(f64::INFINITY, f64::min);
        if min <= 1e-4 {
            min / 1e6
        } else {
            1e-4
        }
    };
    let (fr, fc) = (fill(reference, nr), fill(current, nc));
    reference
        .iter()
        .zip(current)
        .filter(|(&r, &c)| r > 0 || c > 0)
        .map(|(&r, &c)| {
            let r = if r == 0 { fr } else { share(r, nr) };
            let c = if c == 0 { fc } else { share(c, nc) };
            (r - c) * (r / c).ln()
        })
        .sum()
}

/// The two-sample Kolmogorov–Smirnov statistic of two histograms over the same ordered
/// bins: the largest gap between their cumulative shares.
#[must_use]
pub fn ks_statistic(reference: &[u64], current: &[u64]) -> f64 {
    let nr: u64 = reference.iter().sum();
    let nc: u64 = current.iter().sum();
    if nr == 0 || nc == 0 {
        return 0.0;
    }
    let (mut cr, mut cc, mut d) = (0u64, 0u64, 0f64);
    for (&r, &c) in reference.iter().zip(current) {
        cr += r;
        cc += c;
        d = d.max((cr as f64 / nr as f64 - cc as f64 / nc as f64).abs());
    }
    d
}

/// Pearson's chi-squared statistic of homogeneity of two histograms over the same bins
/// (bins empty on both sides left out), and its p-value (`None` with fewer than two bins).
#[must_use]
pub fn chi_squared(reference: &[u64], current: &[u64]) -> (f64, Option<f64>) {
    let nr: u64 = reference.iter().sum();
    let nc: u64 = current.iter().sum();
    if nr == 0 || nc == 0 {
        return (0.0, None);
    }
    let total = (nr + nc) as f64;
    let mut stat = 0.0;
    let mut bins = 0u32;
    for (&r, &c) in reference.iter().zip(current) {
        let col = (r + c) as f64;
        if col == 0.0 {
            continue;
        }
        bins += 1;
        for (obs, n) in [(r, nr), (c, nc)] {
            let expected = col * n as f64 / total;
            stat += (obs as f64 - expected).powi(2) / expected;
        }
    }
    if bins < 2 {
        return (stat, None);
    }
    let p = ChiSquared::new(f64::from(bins - 1))
        .ok()
        .map(|d| d.sf(stat));
    (stat, p)
}

/// PSI of a share (`k` of `n` against `k2` of `n2`), as two bins.
fn psi_share(k: u64, n: u64, k2: u64, n2: u64) -> f64 {
    psi(&[k, n.saturating_sub(k)], &[k2, n2.saturating_sub(k2)])
}

/// Root mean square over dimensions of `(mean_c − mean_r) / sd_r`, with the reference's
/// variance floored at 1% of its average (dimensions that never fire in the reference,
/// such as ReLU units, would otherwise divide by zero).
fn embedding_shift(reference: &Sketch, current: &Sketch) -> Option<f64> {
    if reference.emb_n < 2 || current.emb_n == 0 || reference.emb_sum.is_empty() {
        return None;
    }
    let (nr, nc) = (reference.emb_n as f64, current.emb_n as f64);
    let dim = reference.emb_sum.len();
    let var = |d: usize| {
        let m = reference.emb_sum[d] / nr;
        (reference.emb_sq[d] / nr - m * m).max(0.0) * nr / (nr - 1.0)
    };
    let mean_var = (0..dim).map(var).sum::<f64>() / dim as f64;
    let floor = (mean_var * 0.01).max(1e-12);
    let sum: f64 = (0..dim)
        .map(|d| {
            let diff = current.emb_sum[d] / nc - reference.emb_sum[d] / nr;
            diff * diff / (var(d) + floor)
        })
        .sum();
    Some((sum / dim as f64).sqrt())
}

/// Where the reference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// Still being collected from the first requests.
    Collecting,
    /// Frozen from the first requests after start.
    Frozen,
    /// Fitted on a sample the caller supplied.
    Sample,
    /// Loaded from a saved snapshot.
    Snapshot,
}

impl ReferenceSource {
    /// The stable name: `collecting`, `frozen`, `sample` or `snapshot`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ReferenceSource::Collecting => "collecting",
            ReferenceSource::Frozen => "frozen",
            ReferenceSource::Sample => "sample",
            ReferenceSource::Snapshot => "snapshot",
        }
    }
}

/// One signal of a [`DriftReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DriftSignal {
    /// The statistic (PSI, or the embedding's standardised mean shift).
    pub value: f64,
    /// Its state against the thresholds (`warming_up` before enough data).
    pub state: DriftState,
    /// The warn threshold.
    pub warn: f64,
    /// The alert threshold.
    pub alert: f64,
    /// The window's value of the watched quantity where it is one number (a share or a
    /// mean: truncation rate, `[UNK]` share, PHI rate, mean tokens), else `None`.
    pub current: Option<f64>,
    /// The reference's value of the same quantity.
    pub reference: Option<f64>,
    /// Further statistics: `chi2` and `p_value` (label), `ks` (score).
    pub details: BTreeMap<&'static str, f64>,
}

/// A drift evaluation: see [`DriftMonitor::report`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DriftReport {
    /// The worst signal's state, or `warming_up`.
    pub state: DriftState,
    /// Requests in the current window.
    pub requests: u64,
    /// Requests in the reference (so far, while collecting).
    pub reference_requests: u64,
    /// Where the reference came from.
    pub reference_source: ReferenceSource,
    /// Successful requests the monitor has seen since start (reference ones included).
    pub observed: u64,
    /// Signals by name.
    pub signals: BTreeMap<String, DriftSignal>,
    /// The monitor's memory, fixed at start.
    pub memory_bytes: usize,
}

/// A saved reference distribution: counts and moments, never text. JSON with a format
/// name and version; see [`DriftReference::save`] and [`DriftReference::load`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftReference {
    format: String,
    format_version: u32,
    requests: u64,
    labels: Vec<String>,
    label_counts: Vec<u64>,
    score_counts: Vec<u64>,
    length_edges: Vec<u32>,
    length_counts: Vec<u64>,
    truncated: u64,
    tokens: u64,
    unk_tokens: u64,
    /// Requests with each PHI kind, by kind name; `None` when the reference was taken
    /// without scrubbing.
    phi_requests: Option<BTreeMap<String, u64>>,
    embedding: Option<EmbeddingMoments>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingMoments {
    requests: u64,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl DriftReference {
    /// Requests the reference was taken from.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Label names of the model it was taken with.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Reads a snapshot written by [`DriftReference::save`].
    ///
    /// # Errors
    /// A message naming the file (and the field) when it cannot be read, is not a
    /// reference of this format version, or is inconsistent.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("drift reference {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("drift reference {}: {e}", path.display()))
    }

    /// Parses a snapshot.
    ///
    /// # Errors
    /// As [`DriftReference::load`].
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(REFERENCE_FORMAT) => {}
            _ => return Err(format!("field format: not {REFERENCE_FORMAT:?}")),
        }
        match value.get("format_version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(REFERENCE_FORMAT_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "field format_version: {v} is not supported (this build reads {REFERENCE_FORMAT_VERSION})"
                ))
            }
            None => return Err("field format_version: missing".into()),
        }
        let r: DriftReference =
            serde_json::from_value(value).map_err(|e| format!("invalid reference ({e})"))?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), String> {
        let n = self.requests;
        if n == 0 {
            return Err("field requests: must be at least 1".into());
        }
        let sums = [
            ("label_counts", &self.label_counts),
            ("score_counts", &self.score_counts),
            ("length_counts", &self.length_counts),
        ];
        for (field, counts) in sums {
            if counts.iter().try_fold(0u64, |a, &c| a.checked_add(c)) != Some(n) {
                return Err(format!("field {field}: does not sum to requests ({n})"));
            }
        }
        if self.label_counts.len() != self.labels.len() {
            return Err("field label_counts: one count per label expected".into());
        }
        if self.score_counts.len() != SCORE_BINS {
            return Err(format!("field score_counts: {SCORE_BINS} bins expected"));
        }
        if self.length_counts.len() != self.length_edges.len()
            || self.length_edges.is_empty()
            || self.length_edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err("field length_edges: increasing bounds, one per length count".into());
        }
        if self.truncated > n || self.unk_tokens > self.tokens {
            return Err("fields truncated/unk_tokens: larger than their totals".into());
        }
        if let Some(phi) = &self.phi_requests {
            for (kind, &c) in phi {
                if !Kind::ALL.iter().any(|k| k.as_str() == kind) {
                    return Err(format!(
                        "field phi_requests: unknown kind of {} bytes",
                        kind.len()
                    ));
                }
                if c > n {
                    return Err(format!("field phi_requests.{kind}: larger than requests"));
                }
            }
        }
        if let Some(e) = &self.embedding {
            if e.requests < 2 || e.requests > n || e.mean.len() != e.std.len() || e.mean.is_empty()
            {
                return Err(
                    "field embedding: needs requests >= 2 and mean/std of one length".into(),
                );
            }
            if e.mean.iter().chain(&e.std).any(|x| !x.is_finite()) || e.std.iter().any(|&s| s < 0.0)
            {
                return Err("field embedding: non-finite or negative values".into());
            }
        }
        Ok(())
    }

    /// The snapshot as JSON (pretty-printed).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes the snapshot to `path` (through a temporary file in the same directory, so a
    /// reader never sees half a file).
    ///
    /// # Errors
    /// A message naming the file when it cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let err = |e: std::io::Error| format!("drift reference {}: {e}", path.display());
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_json()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })
    }

    fn from_sketch(s: &Sketch, shape: &ModelShape, layout: &Layout) -> Self {
        let embedding = (s.emb_n >= 2 && layout.dim > 0).then(|| {
            let n = s.emb_n as f64;
            let mean: Vec<f64> = s.emb_sum.iter().map(|x| x / n).collect();
            let std = s
                .emb_sq
                .iter()
                .zip(&mean)
                .map(|(q, m)| ((q / n - m * m).max(0.0) * n / (n - 1.0)).sqrt())
                .collect();
            EmbeddingMoments {
                requests: s.emb_n,
                mean,
                std,
            }
        });
        Self {
            format: REFERENCE_FORMAT.to_owned(),
            format_version: REFERENCE_FORMAT_VERSION,
            requests: s.n,
            labels: shape.labels.clone(),
            label_counts: s.labels.clone(),
            score_counts: s.score.to_vec(),
            length_edges: layout.length_edges.clone(),
            length_counts: s.length.clone(),
            truncated: s.truncated,
            tokens: s.tokens,
            unk_tokens: s.unk,
            phi_requests: shape.scrubbed.then(|| {
                Kind::ALL
                    .iter()
                    .zip(&s.phi)
                    .map(|(k, &c)| (k.as_str().to_owned(), c))
                    .collect()
            }),
            embedding,
        }
    }

    /// The reference as a sketch of `layout`, checking that it fits the model.
    fn to_sketch(&self, shape: &ModelShape, layout: &Layout) -> Result<Sketch, String> {
        if self.labels != shape.labels {
            return Err(format!(
                "drift reference: taken with labels {:?}, the model has {:?}",
                self.labels, shape.labels
            ));
        }
        if self.length_edges != layout.length_edges {
            return Err(
                "drift reference: its length bins do not match the model's max_length".into(),
            );
        }
        let mut s = Sketch::new(layout, true);
        s.n = self.requests;
        s.labels.copy_from_slice(&self.label_counts);
        s.score.copy_from_slice(&self.score_counts);
        s.length.copy_from_slice(&self.length_counts);
        s.truncated = self.truncated;
        s.tokens = self.tokens;
        s.unk = self.unk_tokens;
        if let Some(phi) = &self.phi_requests {
            for (i, k) in Kind::ALL.iter().enumerate() {
                s.phi[i] = phi.get(k.as_str()).copied().unwrap_or(0);
            }
        }
        if let Some(e) = &self.embedding {
            if e.mean.len() != layout.dim {
                return Err(format!(
                    "drift reference: embedding of {} dimensions, the model gives {}",
                    e.mean.len(),
                    layout.dim
                ));
            }
            let n = e.requests as f64;
            s.emb_n = e.requests;
            for d in 0..layout.dim {
                let (m, sd) = (e.mean[d], e.std[d]);
                s.emb_sum[d] = m * n;
                s.emb_sq[d] = (sd * sd * (n - 1.0) / n + m * m) * n;
            }
        }
        Ok(s)
    }
}

/// Prometheus gauges of one monitor.
struct Gauges {
    value: Vec<Gauge<f64, AtomicU64>>,
    state: Vec<Gauge>,
    overall: Gauge,
    window: Gauge,
    reference: Gauge,
}

type SignalLabels = Vec<(&'static str, String)>;

impl Gauges {
    fn register(registry: &mut Registry, names: &[String]) -> Self {
        let reg = registry.sub_registry_with_prefix("clinfer_drift");
        let value = Family::<SignalLabels, Gauge<f64, AtomicU64>>::default();
        reg.register(
            "value",
            "Drift statistic of each signal (PSI; the embedding's standardised mean shift), NaN while warming up",
            value.clone(),
        );
        let state = Family::<SignalLabels, Gauge>::default();
        reg.register(
            "state",
            "Drift state of each signal: 0 ok, 1 warn, 2 alert, -1 warming up",
            state.clone(),
        );
        let overall = Gauge::default();
        reg.register(
            "overall_state",
            "Worst drift state over the signals: 0 ok, 1 warn, 2 alert, -1 warming up",
            overall.clone(),
        );
        let window = Gauge::default();
        reg.register(
            "window_requests",
            "Requests in the drift monitor's current window",
            window.clone(),
        );
        let reference = Gauge::default();
        reg.register(
            "reference_requests",
            "Requests in the drift reference",
            reference.clone(),
        );
        let label = |n: &String| vec![("signal", n.clone())];
        let gauges = Self {
            value: names
                .iter()
                .map(|n| value.get_or_create(&label(n)).clone())
                .collect(),
            state: names
                .iter()
                .map(|n| state.get_or_create(&label(n)).clone())
                .collect(),
            overall,
            window,
            reference,
        };
        for (v, s) in gauges.value.iter().zip(&gauges.state) {
            v.set(f64::NAN);
            s.set(DriftState::WarmingUp.level());
        }
        gauges.overall.set(DriftState::WarmingUp.level());
        gauges
    }
}

/// The mutable part of a monitor.
struct MonitorState {
    reference: Sketch,
    source: ReferenceSource,
    /// Sub-windows: `ring[current]` fills; the others are complete (or empty).
    ring: Vec<Sketch>,
    current: usize,
    since_eval: usize,
    observed: u64,
    /// Scratch space for evaluations (no allocation on the request path).
    merged: Sketch,
    values: Vec<f64>,
    states: Vec<DriftState>,
    overall: DriftState,
}

/// The drift monitor of a pipeline (usable alone: feed it [`Observation`]s).
pub struct DriftMonitor {
    config: DriftConfig,
    shape: ModelShape,
    layout: Layout,
    names: Vec<String>,
    thresholds: Vec<Thresholds>,
    sub_window: usize,
    evaluate_every: usize,
    state: Mutex<MonitorState>,
    gauges: Option<Gauges>,
    memory: usize,
}

impl std::fmt::Debug for DriftMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftMonitor")
            .field("signals", &self.names)
            .field("window", &self.config.window)
            .field("memory_bytes", &self.memory)
            .finish_non_exhaustive()
    }
}

impl DriftMonitor {
    /// A monitor for a model of `shape`; with `registry`, its gauges are registered there
    /// (`clinfer_drift_*`).
    ///
    /// # Errors
    /// A message for invalid settings or a reference that does not fit the model.
    pub fn new(
        config: DriftConfig,
        shape: ModelShape,
        registry: Option<&mut Registry>,
    ) -> Result<Self, String> {
        config.validate()?;
        let layout = Layout::new(&shape);
        let mut names: Vec<String> = ["label", "score", "length", "truncation", "unk"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if shape.scrubbed {
            names.extend(Kind::ALL.iter().map(|k| format!("phi_{}", k.as_str())));
        }
        if layout.dim > 0 {
            names.push("embedding".to_owned());
        }
        let thresholds = names.iter().map(|n| config.thresholds_of(n)).collect();
        let (reference, source) = match &config.reference {
            Some(r) => (r.to_sketch(&shape, &layout)?, ReferenceSource::Snapshot),
            None => (Sketch::new(&layout, true), ReferenceSource::Collecting),
        };
        let sub_window = config.window.div_ceil(SUB_WINDOWS);
        let evaluate_every = config.evaluate_every.unwrap_or(sub_window);
        let ring: Vec<Sketch> = (0..SUB_WINDOWS)
            .map(|_| Sketch::new(&layout, false))
            .collect();
        let merged = Sketch::new(&layout, false);
        let memory = std::mem::size_of::<Self>()
            + reference.bytes()
            + merged.bytes()
            + ring.iter().map(Sketch::bytes).sum::<usize>()
            + names.len() * (16 + 8 + 1 + 24);
        let gauges = registry.map(|r| Gauges::register(r, &names));
        let state = MonitorState {
            reference,
            source,
            ring,
            current: 0,
            since_eval: 0,
            observed: 0,
            merged,
            values: vec![f64::NAN; names.len()],
            states: vec![DriftState::WarmingUp; names.len()],
            overall: DriftState::WarmingUp,
        };
        let monitor = Self {
            config,
            shape,
            layout,
            names,
            thresholds,
            sub_window,
            evaluate_every,
            state: Mutex::new(state),
            gauges,
            memory,
        };
        if let Some(g) = &monitor.gauges {
            g.reference.set(monitor.state.lock().reference.n as i64);
        }
        Ok(monitor)
    }

    /// The signal names, in report order.
    #[must_use]
    pub fn signals(&self) -> &[String] {
        &self.names
    }

    /// The monitor's memory in bytes (fixed at start).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }

    /// Requests frozen into the reference when none was given ([`DriftConfig::reference_size`]).
    #[must_use]
    pub fn reference_size(&self) -> usize {
        self.config.reference_size
    }

    /// Requests in the sliding window ([`DriftConfig::window`]).
    #[must_use]
    pub fn window(&self) -> usize {
        self.config.window
    }

    /// Adds one request. Constant time, no allocation.
    pub fn observe(&self, obs: &Observation<'_>) {
        let now = Instant::now();
        let mut st = self.state.lock();
        st.observed += 1;
        if st.source == ReferenceSource::Collecting {
            st.reference.add(obs, &self.layout, now);
            if st.reference.n as usize >= self.config.reference_size {
                st.source = ReferenceSource::Frozen;
                if let Some(g) = &self.gauges {
                    g.reference.set(st.reference.n as i64);
                }
            }
            return;
        }
        let cur = st.current;
        st.ring[cur].add(obs, &self.layout, now);
        if st.ring[cur].n as usize >= self.sub_window {
            let next = (cur + 1) % SUB_WINDOWS;
            st.ring[next].clear();
            st.current = next;
        }
        st.since_eval += 1;
        if st.since_eval >= self.evaluate_every {
            st.since_eval = 0;
            self.evaluate(&mut st, now);
            self.publish(&mut st);
        }
    }

    /// Evaluates every signal now.
    #[must_use]
    pub fn report(&self) -> DriftReport {
        let mut st = self.state.lock();
        self.evaluate(&mut st, Instant::now());
        let st = &*st;
        let r = &st.reference;
        let w = &st.merged;
        let mut signals = BTreeMap::new();
        for (i, name) in self.names.iter().enumerate() {
            let t = self.thresholds[i];
            let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
            let (current, reference) = match name.as_str() {
                "length" => (rate(w.tokens, w.n), rate(r.tokens, r.n)),
                "truncation" => (rate(w.truncated, w.n), rate(r.truncated, r.n)),
                "unk" => (rate(w.unk, w.tokens), rate(r.unk, r.tokens)),
                n if n.starts_with("phi_") => {
                    let k = i - 5;
                    (rate(w.phi[k], w.n), rate(r.phi[k], r.n))
                }
                _ => (None, None),
            };
            let mut details = BTreeMap::new();
            if name == "label" {
                let (chi2, p) = chi_squared(&r.labels, &w.labels);
                details.insert("chi2", chi2);
                if let Some(p) = p {
                    details.insert("p_value", p);
                }
            } else if name == "score" {
                details.insert("ks", ks_statistic(&r.score, &w.score));
            }
            signals.insert(
                name.clone(),
                DriftSignal {
                    value: st.values[i],
                    state: st.states[i],
                    warn: t.warn,
                    alert: t.alert,
                    current,
                    reference,
                    details,
                },
            );
        }
        DriftReport {
            state: st.overall,
            requests: w.n,
            reference_requests: r.n,
            reference_source: st.source,
            observed: st.observed,
            signals,
            memory_bytes: self.memory,
        }
    }

    /// The reference as a snapshot; `None` while it is still being collected.
    #[must_use]
    pub fn reference(&self) -> Option<DriftReference> {
        let st = self.state.lock();
        (st.source != ReferenceSource::Collecting)
            .then(|| DriftReference::from_sketch(&st.reference, &self.shape, &self.layout))
    }

    /// Starts collecting a new reference from the next `reference_size` requests, emptying
    /// the window.
    pub fn reset_reference(&self) {
        let mut st = self.state.lock();
        st.reference.clear();
        st.source = ReferenceSource::Collecting;
        self.clear_window(&mut st);
    }

    /// Replaces the reference (the window is emptied).
    ///
    /// # Errors
    /// When `reference` does not fit the model (labels, length bins, embedding size).
    pub fn set_reference(&self, reference: &DriftReference) -> Result<(), String> {
        let sketch = reference.to_sketch(&self.shape, &self.layout)?;
        let mut st = self.state.lock();
        st.reference = sketch;
        st.source = ReferenceSource::Snapshot;
        self.clear_window(&mut st);
        Ok(())
    }

    /// A reference built from observations (a caller's sample), not installed.
    #[must_use]
    pub fn reference_from<'a>(
        &self,
        observations: impl IntoIterator<Item = Observation<'a>>,
    ) -> Option<DriftReference> {
        let mut s = Sketch::new(&self.layout, true);
        let now = Instant::now();
        for o in observations {
            s.add(&o, &self.layout, now);
        }
        (s.n > 0).then(|| DriftReference::from_sketch(&s, &self.shape, &self.layout))
    }

    /// Installs a reference built by [`DriftMonitor::reference_from`] on a caller's sample
    /// (reported as [`ReferenceSource::Sample`]; the window is emptied).
    ///
    /// # Errors
    /// As [`DriftMonitor::set_reference`].
    pub fn set_sample_reference(&self, reference: &DriftReference) -> Result<(), String> {
        self.set_reference(reference)?;
        self.state.lock().source = ReferenceSource::Sample;
        Ok(())
    }

    fn clear_window(&self, st: &mut MonitorState) {
        for s in &mut st.ring {
            s.clear();
        }
        st.current = 0;
        st.since_eval = 0;
        st.values.fill(f64::NAN);
        st.states.fill(DriftState::WarmingUp);
        st.overall = DriftState::WarmingUp;
        if let Some(g) = &self.gauges {
            g.reference.set(st.reference.n as i64);
        }
        self.publish(st);
    }

    /// Merges the window into `st.merged` and computes every signal into `st.values` and
    /// `st.states`.
    fn evaluate(&self, st: &mut MonitorState, now: Instant) {
        let MonitorState {
            reference,
            source,
            ring,
            merged,
            values,
            states,
            overall,
            ..
        } = st;
        merged.clear();
        for s in ring.iter() {
            let fresh = match (self.config.window_duration, s.last) {
                (Some(d), Some(last)) => now.saturating_duration_since(last) <= d,
                _ => true,
            };
            if fresh {
                merged.merge(s);
            }
        }
        let min = (self.config.window / 2).max(1) as u64;
        if *source == ReferenceSource::Collecting || merged.n < min || reference.n == 0 {
            values.fill(f64::NAN);
            states.fill(DriftState::WarmingUp);
            *overall = DriftState::WarmingUp;
            return;
        }
        let (r, w) = (&*reference, &*merged);
        let mut worst = DriftState::Ok;
        for (i, name) in self.names.iter().enumerate() {
            let v = match name.as_str() {
                "label" => Some(psi(&r.labels, &w.labels)),
                "score" => Some(psi(&r.score, &w.score)),
                "length" => Some(psi(&r.length, &w.length)),
                "truncation" => Some(psi_share(r.truncated, r.n, w.truncated, w.n)),
                "unk" => Some(psi_share(r.unk, r.tokens, w.unk, w.tokens)),
                "embedding" => embedding_shift(r, w),
                _ => {
                    let k = i - 5;
                    Some(psi_share(r.phi[k], r.n, w.phi[k], w.n))
                }
            };
            match v {
                Some(v) if v.is_finite() => {
                    values[i] = v;
                    states[i] = self.thresholds[i].state(v);
                    worst = worst.max(states[i]);
                }
                _ => {
                    values[i] = f64::NAN;
                    states[i] = DriftState::WarmingUp;
                }
            }
        }
        *overall = worst;
    }

    /// Updates the gauges and logs state changes (signal names and values only).
    fn publish(&self, st: &mut MonitorState) {
        let Some(g) = &self.gauges else { return };
        for i in 0..self.names.len() {
            let before = g.state[i].get();
            let now = st.states[i];
            g.value[i].set(st.values[i]);
            g.state[i].set(now.level());
            if before != now.level() && now >= DriftState::Warn {
                tracing::warn!(
                    signal = %self.names[i],
                    value = st.values[i],
                    state = now.as_str(),
                    "drift: signal crossed its threshold"
                );
            }
        }
        g.overall.set(st.overall.level());
        g.window.set(st.merged.n as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(dim: usize) -> ModelShape {
        ModelShape {
            labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
            max_length: 128,
            embedding_dim: dim,
            scrubbed: true,
        }
    }

    fn obs(i: u64, shift: f32, emb: &mut [f32]) -> Observation<'_> {
        // a deterministic spread of values
        let x = ((i.wrapping_mul(2_654_435_761) % 1000) as f32) / 1000.0;
        for (d, e) in emb.iter_mut().enumerate() {
            *e = ((x * (d as f32 + 1.0) * 7.0).sin() + shift).max(0.0);
        }
        Observation {
            label_id: usize::from(x + shift > 0.5),
            score: 0.5 + (x + shift).min(1.0) / 2.0,
            tokens: 5 + (x * 40.0 + shift * 60.0) as usize,
            truncated: false,
            unk_tokens: 0,
            phi_kinds: if i.is_multiple_of(10) {
                phi_bit(Kind::Name)
            } else {
                0
            },
            embedding: Some(emb),
        }
    }

    #[test]
    fn psi_matches_hand_computation() {
        // bins empty on one side get 0.0001
        let v = psi(&[50, 50, 0], &[25, 25, 50]);
        let expect = (0.5f64 - 0.25) * (0.5f64 / 0.25).ln() * 2.0
            + (0.0001f64 - 0.5) * (0.0001f64 / 0.5).ln();
        assert!((v - expect).abs() < 1e-12, "{v} vs {expect}");
        assert_eq!(psi(&[3, 7], &[3, 7]), 0.0);
        assert_eq!(psi(&[0, 0], &[1, 1]), 0.0);
    }

    #[test]
    fn ks_and_chi_squared() {
        assert!((ks_statistic(&[10, 0, 0], &[0, 0, 10]) - 1.0).abs() < 1e-12);
        assert_eq!(ks_statistic(&[1, 2, 3], &[2, 4, 6]), 0.0);
        let (stat, p) = chi_squared(&[50, 50], &[50, 50]);
        assert_eq!(stat, 0.0);
        assert!((p.unwrap() - 1.0).abs() < 1e-12);
        // 2x2 table [[30, 70], [50, 50]]: chi2 = 8.333..., p ~ 0.0039
        let (stat, p) = chi_squared(&[30, 70], &[50, 50]);
        assert!((stat - 8.333_333).abs() < 1e-4, "{stat}");
        assert!((p.unwrap() - 0.003_892).abs() < 1e-5);
    }

    #[test]
    fn length_bins_cover_every_length() {
        let e = length_edges(512);
        assert_eq!(&e[..6], &[4, 6, 8, 11, 16, 23]);
        assert_eq!(*e.last().unwrap(), 512);
        let layout = Layout::new(&shape(0));
        assert_eq!(layout.length_bin(0), 0);
        assert_eq!(layout.length_bin(4), 0);
        assert_eq!(layout.length_bin(5), 1);
        assert_eq!(layout.length_bin(128), layout.length_edges.len() - 1);
        assert_eq!(layout.length_bin(100_000), layout.length_edges.len() - 1);
        assert_eq!(length_edges(1), vec![1]);
    }

    #[test]
    fn same_stream_is_ok_shifted_stream_alerts() {
        let config = DriftConfig::default().reference_size(2000).window(2000);
        let m = DriftMonitor::new(config, shape(8), None).unwrap();
        let mut emb = [0f32; 8];
        assert_eq!(m.report().state, DriftState::WarmingUp);
        for i in 0..4000 {
            m.observe(&obs(i, 0.0, &mut emb));
        }
        let r = m.report();
        assert_eq!(r.reference_source, ReferenceSource::Frozen);
        assert_eq!(r.state, DriftState::Ok, "{r:#?}");
        for i in 4000..6000 {
            m.observe(&obs(i, 0.4, &mut emb));
        }
        let r = m.report();
        assert_eq!(r.state, DriftState::Alert);
        for s in ["label", "score", "length", "embedding"] {
            assert_eq!(
                r.signals[s].state,
                DriftState::Alert,
                "{s}: {:?}",
                r.signals[s]
            );
        }
        assert_eq!(r.signals["truncation"].state, DriftState::Ok);
        assert_eq!(r.signals["phi_NAME"].state, DriftState::Ok);
        assert!(r.signals["label"].details["p_value"] < 1e-6);
    }

    #[test]
    fn memory_is_fixed_and_window_bounded_over_a_million_requests() {
        let config = DriftConfig::default()
            .reference_size(100)
            .window(1000)
            .window_duration(None);
        let m = DriftMonitor::new(config, shape(16), None).unwrap();
        let before = m.memory_bytes();
        let mut emb = [0f32; 16];
        let mut capacities = None;
        for i in 0..1_000_000u64 {
            m.observe(&obs(i, 0.0, &mut emb));
            if i == 1000 {
                let st = m.state.lock();
                capacities = Some(
                    st.ring
                        .iter()
                        .map(|s| s.emb_sum.capacity() + s.labels.capacity())
                        .sum::<usize>(),
                );
            }
        }
        let r = m.report();
        assert_eq!(r.observed, 1_000_000);
        assert!(r.requests <= 1000 && r.requests >= 900, "{}", r.requests);
        assert_eq!(r.reference_requests, 100);
        assert_eq!(m.memory_bytes(), before);
        let st = m.state.lock();
        let after: usize = st
            .ring
            .iter()
            .map(|s| s.emb_sum.capacity() + s.labels.capacity())
            .sum();
        assert_eq!(Some(after), capacities);
        assert!(before < 64 * 1024, "{before}");
    }

    #[test]
    fn reference_round_trips_and_is_checked() {
        let m =
            DriftMonitor::new(DriftConfig::default().reference_size(50), shape(4), None).unwrap();
        assert!(m.reference().is_none());
        let mut emb = [0f32; 4];
        for i in 0..60 {
            m.observe(&obs(i, 0.0, &mut emb));
        }
        let r = m.reference().unwrap();
        assert_eq!(r.requests(), 50);
        let json = r.to_json();
        let back = DriftReference::from_json(&json).unwrap();
        assert_eq!(back, r);
        // a monitor started from the snapshot has the same reference sketch
        let m2 = DriftMonitor::new(DriftConfig::default().reference(back), shape(4), None).unwrap();
        let r2 = m2.reference().unwrap();
        assert_eq!(r2.label_counts, r.label_counts);
        let (a, b) = (
            r.embedding.as_ref().unwrap(),
            r2.embedding.as_ref().unwrap(),
        );
        for (x, y) in a.std.iter().zip(&b.std) {
            assert!((x - y).abs() < 1e-9);
        }
        // wrong model, wrong version, broken counts
        assert!(DriftMonitor::new(
            DriftConfig::default().reference(r2.clone()),
            ModelShape {
                labels: vec!["a".into(), "b".into(), "c".into()],
                ..shape(4)
            },
            None
        )
        .unwrap_err()
        .contains("labels"));
        assert!(
            DriftMonitor::new(DriftConfig::default().reference(r2.clone()), shape(5), None)
                .unwrap_err()
                .contains("embedding")
        );
        let v2 = json.replace("\"format_version\": 1", "\"format_version\": 2");
        assert!(DriftReference::from_json(&v2)
            .unwrap_err()
            .contains("format_version"));
        let bad = json.replacen("\"requests\": 50", "\"requests\": 51", 1);
        assert!(DriftReference::from_json(&bad)
            .unwrap_err()
            .contains("does not sum"));
        assert!(DriftReference::from_json("[]")
            .unwrap_err()
            .contains("format"));
        assert!(DriftReference::from_json("{").unwrap_err().contains("JSON"));
    }

    #[test]
    fn config_is_validated() {
        let s = || shape(0);
        for (c, what) in [
            (DriftConfig::default().window(5), "window"),
            (DriftConfig::default().reference_size(0), "reference_size"),
            (DriftConfig::default().evaluate_every(0), "evaluate_every"),
            (
                DriftConfig::default().window_duration(Some(Duration::ZERO)),
                "window_duration",
            ),
            (
                DriftConfig::default().thresholds("nope", Thresholds::PSI),
                "unknown signal",
            ),
            (
                DriftConfig::default().thresholds(
                    "label",
                    Thresholds {
                        warn: 0.3,
                        alert: 0.2,
                    },
                ),
                "warn <= alert",
            ),
        ] {
            let e = DriftMonitor::new(c, s(), None).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
        let m = DriftMonitor::new(
            DriftConfig::default().thresholds("phi_NAME", Thresholds::EMBEDDING),
            s(),
            None,
        )
        .unwrap();
        assert!(!m.signals().contains(&"embedding".to_owned()));
        assert_eq!(m.signals().len(), 5 + KINDS);
    }

    #[test]
    fn time_bounds_the_window() {
        let config = DriftConfig::default()
            .reference_size(10)
            .window(100)
            .window_duration(Some(Duration::from_millis(1)));
        let m = DriftMonitor::new(config, shape(0), None).unwrap();
        let mut emb = [0f32; 0];
        for i in 0..200 {
            m.observe(&obs(i, 0.0, &mut emb));
        }
        // counting, not timing: after a pause longer than the window, nothing is fresh
        std::thread::sleep(Duration::from_millis(20));
        let r = m.report();
        assert_eq!(r.requests, 0);
        assert_eq!(r.state, DriftState::WarmingUp);
    }
}
