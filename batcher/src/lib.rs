//! An async dynamic batcher: merges concurrent requests into few model calls, with bounded
//! admission, deadlines, cancellation, priorities and length-aware batch formation.
//!
//! The model is any [`Backend`]; it runs on dedicated worker threads fed through a
//! crossbeam channel, while a small tokio task forms batches. Callers hold a cheap, cloneable
//! [`Handle`] and [`submit`](Handle::submit) one input at a time (there is also a blocking
//! twin and a [`try_submit`](Handle::try_submit) that never waits).
//!
//! ```
//! use std::time::Duration;
//! use clinfer_batcher::{Backend, Batcher, SubmitOptions};
//!
//! /// A toy model: the length of each input.
//! struct Len;
//!
//! impl Backend for Len {
//!     type Input = String;
//!     type Output = usize;
//!     type Error = std::convert::Infallible;
//!     fn cost(&self, input: &String) -> usize {
//!         input.len().max(1)
//!     }
//!     fn run(&self, _worker: usize, inputs: &[String]) -> Result<Vec<usize>, Self::Error> {
//!         Ok(inputs.iter().map(String::len).collect())
//!     }
//! }
//!
//! # fn main() -> clinfer_batcher::Result<()> {
//! let rt = tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     let batcher = Batcher::builder()
//!         .max_batch_size(16)
//!         .max_wait(Duration::from_millis(1))
//!         .build(Len)?;
//!     let handle = batcher.handle();
//!     let n = handle.submit("hello".to_owned(), SubmitOptions::new()).await?;
//!     assert_eq!(n, 5);
//!     assert!(batcher.encode_metrics().contains("clinfer_batcher_batch_size"));
//!     batcher.shutdown(Duration::from_secs(1)).await;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Semantics
//!
//! - A batch closes when it reaches `max_batch_size` rows, when the next row would exceed
//!   `max_batch_tokens` (for padded backends, `longest × rows`), or `max_wait` after its
//!   oldest request arrived. `max_wait = 0` takes whatever is queued when a worker is free.
//! - Length-aware formation (on by default) picks rows of similar cost from the most urgent
//!   `length_window` requests. The most urgent request is always taken, and a request that
//!   is passed over goes first in the next batch, so reordering delays a request by at most
//!   one batch.
//! - Admission is bounded in requests and in tokens: a full queue answers
//!   [`Error::Overloaded`] at once, an input larger than a batch [`Error::TooLong`].
//! - Deadlines are enforced by a timer: a queued request fails with
//!   [`Error::DeadlineExceeded`] when its deadline passes and never reaches the model.
//! - Dropping a pending future removes its request from the queue.
//! - Three [`Priority`] levels, strict, with aging so that low priority cannot starve.
//! - A backend error fails only its batch; a backend panic fails it with
//!   [`Error::Internal`] and the worker keeps serving.
//! - [`Handle::shutdown`] drains; dropping the [`Batcher`] fails what is queued at once.
//! - [`Handle::replace_backend`] swaps models between batches.
//! - Metrics in the Prometheus text format via [`Handle::encode_metrics`].

mod backend;
mod batcher;
mod config;
mod error;
mod metrics;
mod queue;
mod wait;

pub use backend::Backend;
#[doc(hidden)]
pub use batcher::NoBackend;
pub use batcher::{Batcher, Handle, Health, Pending, QueueDepth, Response, ShutdownOutcome};
pub use config::{check_metrics_label, BatcherBuilder, Config, Priority, SubmitOptions};
pub use error::{BackendError, Error, Result};
/// The `prometheus-client` crate, re-exported for [`Handle::register_metrics`].
pub use prometheus_client;
/// The `Instant` type of [`SubmitOptions::deadline`] (tokio's, so that paused-clock tests work).
pub use tokio::time::Instant;

/// The crate README's Rust code blocks, compiled and run as doc tests so that they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
