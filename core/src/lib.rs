//! # clinfer-core
//!
//! The model layer of clinfer: Hugging Face `config.json`, weights (`model.safetensors`,
//! sharded safetensors or `pytorch_model.bin`, in f32, f16 or bf16) and `tokenizer.json` loading,
//! and a DistilBERT sequence classifier written for [candle](https://github.com/huggingface/candle).
//!
//! ```
//! use clinfer_core::{Classifier, DeviceSpec, Truncation};
//!
//! // the demo model bundled in the repository
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/clinfer-demo-sst2");
//! let classifier = Classifier::builder()
//!     .model_dir(dir)
//!     .device(DeviceSpec::Cpu)
//!     .truncation(Truncation::Truncate)
//!     .build()?;
//! let out = classifier.predict(&["a warm , funny and moving film", "a tedious mess"])?;
//! assert_eq!(out.len(), 2);
//! assert!(out.iter().all(|p| (0.0..=1.0).contains(&p.score)));
//! # Ok::<(), clinfer_core::Error>(())
//! ```
//!
//! Devices: the CPU by default; with the `cuda` feature, [`DeviceSpec::Cuda`] and
//! [`DeviceSpec::Auto`] (which falls back to the CPU when no GPU answers). With the `hub`
//! feature, `ClassifierBuilder::hub` downloads a checkpoint from the Hugging Face Hub.

mod bf16pack;
pub mod classifier;
pub mod config;
pub mod device;
pub mod error;
mod f32pack;
mod fastmath;
#[cfg(feature = "hub")]
pub mod hub;
pub mod int8;
pub mod models;
mod shared;
pub mod tokenizer;
pub mod weights;

pub use classifier::{
    BatchLayout, Classifier, ClassifierBuilder, Model, Prediction, DEFAULT_BATCH_SIZE,
};
pub use config::{Activation, Config, ProblemType};
pub use device::{DTypeSpec, DeviceSpec};
pub use error::{Error, Result};
pub use tokenizer::{Encoding, Tokenizer, Truncation};

/// Re-exported so callers can name devices and dtypes without depending on candle directly.
pub use candle_core::{DType, Device};

/// The crate README's Rust code blocks, compiled and run as doc tests so that they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
