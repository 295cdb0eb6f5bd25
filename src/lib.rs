//! # clinfer
//!
//! Embeddable inference for clinical text, in the caller's process: PHI de-identification
//! ([`phi`]), dynamic batching ([`batcher`]) and a DistilBERT classifier ([`core`]), joined by
//! the [`Pipeline`].
//!
//! The parts are re-exported so that one dependency gives access to all of them.
//!
//! ```
//! use clinfer::{ClassifyOptions, Pipeline};
//!
//! # fn main() -> clinfer::Result<()> {
//! let pipeline = Pipeline::builder()
//!     .model_dir("models/clinfer-demo-sst2")
//!     .build()?;
//! let out = pipeline.classify_blocking(
//!     "Seen by Dr. Alvarez on 03/14/2023: a warm, funny and moving film.",
//!     ClassifyOptions::default(),
//! )?;
//! println!("{} {:.3} {:?}", out.label, out.score, out.redacted);
//! pipeline.shutdown_blocking(std::time::Duration::from_secs(1));
//! # Ok(())
//! # }
//! ```

pub use clinfer_batcher as batcher;
pub use clinfer_core as core;
pub use clinfer_phi as phi;

pub mod backend;
pub mod drift;
pub mod error;
pub mod pipeline;

pub use backend::{ClassifierBackend, Scored};
pub use drift::{DriftConfig, DriftMonitor, DriftReference, DriftReport, DriftSignal, DriftState};
pub use error::{Error, ErrorKind, Protocol, Result};
pub use pipeline::{
    Classification, ClassifyOptions, Pipeline, PipelineBuilder, Timings, DEFAULT_MAX_INPUT_BYTES,
    REDACTION_HEADROOM,
};

/// The crate README's Rust code blocks, compiled and run as doc tests so that they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
