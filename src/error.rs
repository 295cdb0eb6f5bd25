//! The facade's error type: one variant per way a classification can fail, so that bindings
//! (Python, HTTP) can map each to one exception or status code.

use std::time::Duration;

/// Everything that can go wrong in a [`Pipeline`](crate::Pipeline).
///
/// No variant carries input text: messages hold sizes, limits, indices and file paths only,
/// so errors are safe to log when inputs are clinical notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The queue is full; nothing was enqueued. Retry after `retry_after` (HTTP 429).
    #[error("overloaded; retry after {retry_after:?}")]
    Overloaded {
        /// Suggested back-off before retrying.
        retry_after: Duration,
    },
    /// The request's deadline passed before it reached the model (HTTP 504).
    #[error("the request deadline passed before it was served")]
    DeadlineExceeded,
    /// The pipeline is shutting down or stopped (HTTP 503).
    #[error("the pipeline is shutting down")]
    ShuttingDown,
    /// The input is unusable: empty, too large, too many tokens, or otherwise rejected by the
    /// scrubber or the tokenizer (HTTP 422). The message never contains the input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The model or the de-identifier could not be loaded, or a builder setting is invalid.
    #[error("cannot load the pipeline: {0}")]
    ModelLoad(String),
    /// The model failed or a worker panicked (HTTP 500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A short, stable name for the variant (`overloaded`, `deadline_exceeded`,
    /// `shutting_down`, `invalid_input`, `model_load`, `internal`), for metrics labels and
    /// JSON error bodies.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Overloaded { .. } => "overloaded",
            Error::DeadlineExceeded => "deadline_exceeded",
            Error::ShuttingDown => "shutting_down",
            Error::InvalidInput(_) => "invalid_input",
            Error::ModelLoad(_) => "model_load",
            Error::Internal(_) => "internal",
        }
    }

    /// Maps a core error met while handling one request (`index` is rewritten by the caller
    /// when the request was part of a `classify_many` call).
    pub(crate) fn from_core_input(e: &clinfer_core::Error) -> Self {
        use clinfer_core::Error as C;
        // the core numbers inputs within its own call (always 0 here): the pipeline adds
        // the caller's index (`text N: ...`), so the reasons below carry none
        match e {
            C::EmptyInput { .. } => {
                Error::InvalidInput("the text is empty after normalisation".to_owned())
            }
            C::InputTooLarge { bytes, limit, .. } => Error::InvalidInput(format!(
                "the text reaches the tokenizer with {bytes} bytes, over its limit of {limit} bytes"
            )),
            C::TooManyTokens {
                tokens, max_length, ..
            } => Error::InvalidInput(format!(
                "the text has {tokens} tokens, over max_length {max_length} (strict mode)"
            )),
            C::Tokenize { message, .. } => {
                Error::InvalidInput(format!("tokenization failed: {message}"))
            }
            C::InvalidIds(_) => Error::InvalidInput(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}

impl From<clinfer_batcher::Error> for Error {
    fn from(e: clinfer_batcher::Error) -> Self {
        use clinfer_batcher::Error as B;
        match e {
            B::Overloaded { retry_after } => Error::Overloaded { retry_after },
            B::TooLong { .. } => Error::InvalidInput(e.to_string()),
            B::DeadlineExceeded => Error::DeadlineExceeded,
            B::ShuttingDown => Error::ShuttingDown,
            B::Config { .. } | B::Load { .. } => Error::ModelLoad(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}

impl From<clinfer_phi::Error> for Error {
    fn from(e: clinfer_phi::Error) -> Self {
        match e {
            clinfer_phi::Error::InputTooLarge { .. } => Error::InvalidInput(e.to_string()),
            _ => Error::ModelLoad(e.to_string()),
        }
    }
}
