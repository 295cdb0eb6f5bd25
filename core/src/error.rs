//! The one error type of `clinfer-core`.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
///
/// Messages never contain input text: they name indices, lengths and file paths only, so that
/// errors can be logged even when the input was clinical text with PHI in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file the model directory must contain is not there.
    #[error("missing file {path}: {what}")]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
        /// What the file is for.
        what: &'static str,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or lacks required fields.
    #[error("malformed config {path}: {source}")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration parses but its values are unusable.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The checkpoint's tensors do not fit the configuration (missing tensor or wrong shape).
    #[error("cannot load weights from {path}: {source}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What candle reported (tensor name and shapes).
        #[source]
        source: candle_core::Error,
    },
    /// `tokenizer.json` could not be loaded.
    #[error("cannot load tokenizer {path}: {message}")]
    TokenizerLoad {
        /// The tokenizer file.
        path: PathBuf,
        /// What the tokenizers crate reported.
        message: String,
    },
    /// The tokenizer failed on an input.
    #[error("tokenization failed for input {index}: {message}")]
    Tokenize {
        /// Index of the input in the call.
        index: usize,
        /// What the tokenizers crate reported (never the text itself).
        message: String,
    },
    /// An input is empty, or holds nothing the tokenizer keeps (only whitespace or control
    /// characters).
    #[error("input {index} is empty after normalisation")]
    EmptyInput {
        /// Index of the input in the call.
        index: usize,
    },
    /// An input is larger than the configured byte limit, checked before tokenization.
    #[error("input {index} is {bytes} bytes, over the limit of {limit} bytes")]
    InputTooLarge {
        /// Index of the input in the call.
        index: usize,
        /// Size of the input in bytes.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// In strict mode, an input has more tokens than the model accepts.
    #[error("input {index} has {tokens} tokens, over max_length {max_length} (strict mode)")]
    TooManyTokens {
        /// Index of the input in the call.
        index: usize,
        /// Number of tokens including special tokens.
        tokens: usize,
        /// The configured maximum.
        max_length: usize,
    },
    /// Token ids handed to the low-level API are unusable (empty row, id out of vocabulary,
    /// row longer than the position table, ...).
    #[error("invalid token ids: {0}")]
    InvalidIds(String),
    /// The requested device cannot be used.
    #[error("device unavailable: {0}")]
    Device(String),
    /// A tensor operation failed while running the model.
    #[error("model execution failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Downloading from the Hugging Face Hub failed.
    #[cfg(feature = "hub")]
    #[error("hub download of {file} from {repo} failed: {message}")]
    Hub {
        /// The repository id.
        repo: String,
        /// The file that was requested.
        file: String,
        /// What hf-hub reported.
        message: String,
    },
}

/// Result alias used throughout `clinfer-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
