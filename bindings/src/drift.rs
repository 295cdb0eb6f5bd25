//! `clinfer._native.DriftReport` and `DriftSignal`: the drift monitor's report, as numbers.

use std::collections::BTreeMap;

use pyo3::prelude::*;

/// One drift signal: its value, state and thresholds.
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct DriftSignal {
    /// The statistic (PSI, or the standardised shift for `embedding`); NaN while warming up.
    pub value: f64,
    /// `"warming_up"`, `"ok"`, `"warn"` or `"alert"`.
    pub state: String,
    /// The warn threshold.
    pub warn: f64,
    /// The alert threshold.
    pub alert: f64,
    /// The window's rate (tokens per request, truncation or PHI share, `[UNK]` share), when
    /// the signal is a rate.
    pub current: Option<f64>,
    /// The reference's rate, likewise.
    pub reference: Option<f64>,
    /// Extra statistics (`chi2` and `p_value` for `label`, `ks` for `score`).
    pub details: BTreeMap<String, f64>,
}

#[pymethods]
impl DriftSignal {
    fn __repr__(&self) -> String {
        format!(
            "DriftSignal(value={:.4}, state={:?}, warn={}, alert={})",
            self.value, self.state, self.warn, self.alert
        )
    }
}

/// The drift report of a pipeline.
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct DriftReport {
    /// The worst signal's state, or `"warming_up"`.
    pub state: String,
    /// Requests in the current window.
    pub requests: u64,
    /// Requests in the reference.
    pub reference_requests: u64,
    /// Where the reference came from: `collecting`, `frozen`, `sample` or `snapshot`.
    pub reference_source: String,
    /// Requests observed since start (the reference's included when it was frozen).
    pub observed: u64,
    /// Signal name to signal.
    pub signals: BTreeMap<String, DriftSignal>,
    /// The monitor's fixed memory in bytes.
    pub memory_bytes: usize,
}

#[pymethods]
impl DriftReport {
    fn __repr__(&self) -> String {
        format!(
            "DriftReport(state={:?}, requests={}, signals={})",
            self.state,
            self.requests,
            self.signals.len()
        )
    }
}

impl From<clinfer::DriftReport> for DriftReport {
    fn from(r: clinfer::DriftReport) -> Self {
        Self {
            state: r.state.as_str().to_owned(),
            requests: r.requests,
            reference_requests: r.reference_requests,
            reference_source: r.reference_source.as_str().to_owned(),
            observed: r.observed,
            signals: r
                .signals
                .into_iter()
                .map(|(name, s)| {
                    (
                        name,
                        DriftSignal {
                            value: s.value,
                            state: s.state.as_str().to_owned(),
                            warn: s.warn,
                            alert: s.alert,
                            current: s.current,
                            reference: s.reference,
                            details: s
                                .details
                                .into_iter()
                                .map(|(k, v)| (k.to_owned(), v))
                                .collect(),
                        },
                    )
                })
                .collect(),
            memory_bytes: r.memory_bytes,
        }
    }
}

fn same_bins(reference: &[u64], current: &[u64]) -> PyResult<()> {
    if reference.len() == current.len() {
        Ok(())
    } else {
        Err(crate::errors::InvalidInput::new_err(format!(
            "the histograms have {} and {} bins; they must share their bins",
            reference.len(),
            current.len()
        )))
    }
}

/// The population stability index of two histograms over the same bins, computed as the
/// drift monitor computes it (Evidently's filling of empty bins).
#[pyfunction]
pub fn drift_psi(reference: Vec<u64>, current: Vec<u64>) -> PyResult<f64> {
    same_bins(&reference, &current)?;
    Ok(clinfer::drift::psi(&reference, &current))
}

/// The two-sample Kolmogorov–Smirnov statistic of two histograms over the same ordered bins,
/// as the drift monitor computes it for `score`.
#[pyfunction]
pub fn drift_ks(reference: Vec<u64>, current: Vec<u64>) -> PyResult<f64> {
    same_bins(&reference, &current)?;
    Ok(clinfer::drift::ks_statistic(&reference, &current))
}
