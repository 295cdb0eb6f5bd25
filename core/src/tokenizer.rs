//! Tokenization with the `tokenizers` crate, with truncation and padding owned by clinfer.
//!
//! A `tokenizer.json` may carry its own truncation and padding (some ship `Fixed(128)` padding);
//! both are overridden here. Padding is done by the model at batch time, and over-long inputs
//! are either truncated to `max_length` (keeping `[SEP]`) or rejected in strict mode.

use std::path::Path;

use tokenizers::{PostProcessor, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// Default cap on the size of one input, checked before tokenization: 4 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 4 << 20;

/// What to do with an input that has more tokens than `max_length`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truncation {
    /// Keep the first `max_length - 2` tokens between `[CLS]` and `[SEP]` (the default).
    #[default]
    Truncate,
    /// Fail with [`Error::TooManyTokens`].
    Strict,
}

/// Token ids of one input, ready to be batched.
///
/// The attention mask is implicit: every id is a real token, and padding is added when rows are
/// batched together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    ids: Vec<u32>,
    truncated: bool,
}

impl Encoding {
    /// Wraps ids that were tokenized elsewhere. They are validated when the model runs.
    #[must_use]
    pub fn from_ids(ids: Vec<u32>) -> Self {
        Self {
            ids,
            truncated: false,
        }
    }

    /// The token ids, special tokens included.
    #[must_use]
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Number of tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the input was cut to fit `max_length`.
    #[must_use]
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }
}

/// A Hugging Face tokenizer configured for classification.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    max_length: usize,
    truncation: Truncation,
    max_input_bytes: usize,
}

impl Tokenizer {
    /// Loads `tokenizer.json` and overrides its truncation and padding.
    ///
    /// # Errors
    /// [`Error::MissingFile`] or [`Error::TokenizerLoad`]; [`Error::InvalidConfig`] when
    /// `max_length` cannot hold the special tokens.
    pub fn from_file(path: &Path, max_length: usize, truncation: Truncation) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_owned(),
                what: "the tokenizer (tokenizer.json)",
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::TokenizerLoad {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::new(inner, max_length, truncation)
    }

    /// Wraps an in-memory tokenizer and overrides its truncation and padding.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `max_length` cannot hold the special tokens.
    pub fn new(
        mut inner: tokenizers::Tokenizer,
        max_length: usize,
        truncation: Truncation,
    ) -> Result<Self> {
        let specials = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length <= specials {
            return Err(Error::InvalidConfig(format!(
                "max_length {max_length} leaves no room beside {specials} special tokens"
            )));
        }
        inner.with_padding(None);
        let params = match truncation {
            Truncation::Truncate => Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..TruncationParams::default()
            }),
            Truncation::Strict => None,
        };
        inner
            .with_truncation(params)
            .map_err(|e| Error::InvalidConfig(format!("truncation: {e}")))?;
        Ok(Self {
            inner,
            max_length,
            truncation,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        })
    }

    /// Sets the per-input byte limit checked before tokenization.
    #[must_use]
    pub fn with_max_input_bytes(mut self, limit: usize) -> Self {
        self.max_input_bytes = limit;
        self
    }

    /// The per-input byte limit checked before tokenization.
    #[must_use]
    pub fn max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// The longest encoding produced, special tokens included.
    #[must_use]
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The truncation policy.
    #[must_use]
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }

    /// Vocabulary size including added tokens.
    #[must_use]
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes one text. `index` is used in error messages only.
    ///
    /// # Errors
    /// [`Error::InputTooLarge`], [`Error::EmptyInput`], [`Error::TooManyTokens`] (strict mode)
    /// or [`Error::Tokenize`].
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.encode_at(0, text)
    }

    /// Encodes many texts, in parallel, preserving order.
    ///
    /// # Errors
    /// The first failing input's error, with its index.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        for (index, text) in texts.iter().enumerate() {
            self.check_size(index, text)?;
        }
        match self.inner.encode_batch_fast(texts.to_vec(), true) {
            Ok(encodings) => encodings
                .into_iter()
                .enumerate()
                .map(|(index, e)| self.finish(index, e))
                .collect(),
            // The batch call does not say which input failed: find it.
            Err(_) => texts
                .iter()
                .enumerate()
                .map(|(index, text)| self.encode_at(index, text))
                .collect(),
        }
    }

    fn check_size(&self, index: usize, text: &str) -> Result<()> {
        if text.len() > self.max_input_bytes {
            return Err(Error::InputTooLarge {
                index,
                bytes: text.len(),
                limit: self.max_input_bytes,
            });
        }
        Ok(())
    }

    fn encode_at(&self, index: usize, text: &str) -> Result<Encoding> {
        self.check_size(index, text)?;
        let encoding = self
            .inner
            .encode_fast(text, true)
            .map_err(|e| Error::Tokenize {
                index,
                message: e.to_string(),
            })?;
        self.finish(index, encoding)
    }

    fn finish(&self, index: usize, encoding: tokenizers::Encoding) -> Result<Encoding> {
        let real_tokens = encoding
            .get_special_tokens_mask()
            .iter()
            .filter(|&&m| m == 0)
            .count();
        if real_tokens == 0 {
            return Err(Error::EmptyInput { index });
        }
        let tokens = encoding.len();
        if self.truncation == Truncation::Strict && tokens > self.max_length {
            return Err(Error::TooManyTokens {
                index,
                tokens,
                max_length: self.max_length,
            });
        }
        let truncated = !encoding.get_overflowing().is_empty();
        Ok(Encoding {
            ids: encoding.get_ids().to_vec(),
            truncated,
        })
    }
}
