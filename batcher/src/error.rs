//! The batcher's error type.

use std::sync::Arc;
use std::time::Duration;

/// A shareable, type-erased error from a [`Backend`](crate::Backend).
pub type BackendError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between [`Handle::submit`](crate::Handle::submit) and its answer.
///
/// The type is `Clone` so that one backend failure can reach every request of the batch. No
/// variant carries request content, so errors are safe to log even when inputs hold PHI.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The queue is full (in requests or in tokens). Nothing was enqueued; try again after
    /// `retry_after`, an estimate from the recent batch times and the queue length.
    #[error("the batcher queue is full; retry after {retry_after:?}")]
    Overloaded {
        /// Suggested back-off before retrying.
        retry_after: Duration,
    },
    /// The input costs more tokens than a whole batch may hold, so it can never be served.
    #[error("input of {cost} tokens exceeds the batch token budget of {max}")]
    TooLong {
        /// The input's cost in tokens, as reported by the backend.
        cost: usize,
        /// The batch token budget.
        max: usize,
    },
    /// The request's deadline passed before it reached the model; it never will.
    #[error("the request deadline passed while it was queued")]
    DeadlineExceeded,
    /// The batcher is draining or stopped and accepts no more work, or it stopped before this
    /// request could be served.
    #[error("the batcher is shutting down")]
    ShuttingDown,
    /// The backend returned an error for the batch this request was part of.
    #[error("the backend failed on this request's batch: {source}")]
    Backend {
        /// The backend's error, shared by every request of the failed batch.
        source: BackendError,
    },
    /// The backend panicked or broke its contract (for example, it returned the wrong number
    /// of outputs). The worker survives and keeps serving.
    #[error("internal batcher error: {message}")]
    Internal {
        /// What happened. Never contains request content or the panic payload.
        message: String,
    },
    /// A new backend could not be loaded or warmed up; the previous one keeps serving.
    #[error("loading the new backend failed: {source}")]
    Load {
        /// The loader's or warm-up's error.
        source: BackendError,
    },
    /// A builder setting is invalid.
    #[error("invalid batcher configuration: {message}")]
    Config {
        /// Which setting is wrong and why.
        message: String,
    },
}

/// `Result` with the batcher's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
