//! The classifier as a [`clinfer_batcher::Backend`].

use std::sync::Arc;

use clinfer_batcher::Backend;
use clinfer_core::{Classifier, Encoding, Prediction};

/// Runs batches of encodings through a shared [`Classifier`] (one forward pass per batch).
///
/// The cost of an input is its token count; batches are padded to their longest row.
#[derive(Debug, Clone)]
pub struct ClassifierBackend {
    classifier: Arc<Classifier>,
    pooled: bool,
}

/// What the backend gives back for one input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Scored {
    /// The prediction.
    pub prediction: Prediction,
    /// The pooled `[CLS]` vector (the classification head's input), when the backend was
    /// asked for it with [`ClassifierBackend::with_pooled`].
    pub pooled: Option<Vec<f32>>,
}

impl ClassifierBackend {
    /// Wraps a shared classifier.
    #[must_use]
    pub fn new(classifier: Arc<Classifier>) -> Self {
        Self {
            classifier,
            pooled: false,
        }
    }

    /// Whether each output also carries the pooled `[CLS]` vector (default: no). It costs a
    /// copy of `dim` floats per input, no extra computation.
    #[must_use]
    pub fn with_pooled(mut self, on: bool) -> Self {
        self.pooled = on;
        self
    }

    /// The wrapped classifier.
    #[must_use]
    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.classifier
    }
}

impl Backend for ClassifierBackend {
    type Input = Encoding;
    type Output = Scored;
    type Error = clinfer_core::Error;

    fn cost(&self, input: &Encoding) -> usize {
        input.len().max(1)
    }

    fn padded(&self) -> bool {
        // the model says: packed on the CPU by default, padded on a GPU
        self.classifier.model().pads_batches()
    }

    fn run(&self, _worker: usize, inputs: &[Encoding]) -> Result<Vec<Scored>, Self::Error> {
        let rows: Vec<&Encoding> = inputs.iter().collect();
        if self.pooled {
            Ok(self
                .classifier
                .predict_encoded_with_pooled(&rows)?
                .into_iter()
                .map(|(prediction, pooled)| Scored {
                    prediction,
                    pooled: Some(pooled),
                })
                .collect())
        } else {
            Ok(self
                .classifier
                .predict_encoded(&rows)?
                .into_iter()
                .map(|prediction| Scored {
                    prediction,
                    pooled: None,
                })
                .collect())
        }
    }

    fn warm_up(&self) -> Result<(), Self::Error> {
        let tokenizer = self.classifier.tokenizer();
        let encoding = tokenizer.encode("ok")?;
        self.run(0, &[encoding]).map(drop)
    }
}
