//! Python bindings for clinfer, built as the `clinfer._native` extension module.
//!
//! The bindings are thin: inputs are copied into owned Rust values, the GIL is released for
//! all model and scrub work, panics are caught, and every Rust error maps to one exception of
//! the hierarchy rooted at `clinfer.ClinferError` (see [`errors`]).
//!
//! ```python
//! import clinfer
//!
//! spans = clinfer.Scrubber().analyze("Call 555-201-3344.")
//! assert [(s.start, s.end, s.kind) for s in spans] == [(5, 17, "PHONE")]
//! ```
//!
//! The extension links against the interpreter that loads it, so the crate has no Rust test
//! targets: it is tested from Python (`python/tests`, run by `scripts/python-tests.sh`).

pub mod classifier;
pub mod drift;
pub mod errors;
pub mod pipeline;
pub mod scrubber;

use pyo3::prelude::*;

/// The `clinfer._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::add_classes(m)?;
    m.add_class::<classifier::Classifier>()?;
    m.add_class::<classifier::Prediction>()?;
    m.add_class::<scrubber::Scrubber>()?;
    m.add_class::<scrubber::Span>()?;
    m.add_class::<scrubber::Redaction>()?;
    m.add_class::<pipeline::Pipeline>()?;
    m.add_class::<pipeline::Classification>()?;
    m.add_class::<pipeline::Ticket>()?;
    m.add_class::<drift::DriftReport>()?;
    m.add_class::<drift::DriftSignal>()?;
    m.add_function(wrap_pyfunction!(drift::drift_psi, m)?)?;
    m.add_function(wrap_pyfunction!(drift::drift_ks, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
