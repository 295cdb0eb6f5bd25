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
}

impl ClassifierBackend {
    /// Wraps a shared classifier.
    #[must_use]
    pub fn new(classifier: Arc<Classifier>) -> Self {
        Self { classifier }
    }

    /// The wrapped classifier.
    #[must_use]
    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.classifier
    }
}

impl Backend for ClassifierBackend {
    type Input = Encoding;
    type Output = Prediction;
    type Error = clinfer_core::Error;

    fn cost(&self, input: &Encoding) -> usize {
        input.len().max(1)
    }

    fn padded(&self) -> bool {
        // the model says: packed on the CPU by default, padded on a GPU
        self.classifier.model().pads_batches()
    }

    fn run(&self, _worker: usize, inputs: &[Encoding]) -> Result<Vec<Prediction>, Self::Error> {
        let rows: Vec<&Encoding> = inputs.iter().collect();
        self.classifier.predict_encoded(&rows)
    }

    fn warm_up(&self) -> Result<(), Self::Error> {
        let tokenizer = self.classifier.tokenizer();
        let encoding = tokenizer.encode("ok")?;
        self.classifier.predict_encoded(&[&encoding]).map(drop)
    }
}
