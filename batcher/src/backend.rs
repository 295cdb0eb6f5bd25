//! The seam between the batcher and a model.

/// A model that the batcher feeds with batches.
///
/// The batcher calls [`cost`](Backend::cost) on the caller's thread at admission, and
/// [`run`](Backend::run) and [`warm_up`](Backend::warm_up) on its own worker threads. One
/// backend value is shared by every worker, so it must be `Sync`; a backend that owns one
/// device per worker can use the `worker` index passed to `run`.
///
/// # Example
///
/// ```
/// use clinfer_batcher::Backend;
///
/// /// Counts the words of each input.
/// struct WordCount;
///
/// impl Backend for WordCount {
///     type Input = String;
///     type Output = usize;
///     type Error = std::convert::Infallible;
///
///     fn cost(&self, input: &String) -> usize {
///         input.split_whitespace().count().max(1)
///     }
///
///     fn run(&self, _worker: usize, inputs: &[String]) -> Result<Vec<usize>, Self::Error> {
///         Ok(inputs.iter().map(|s| s.split_whitespace().count()).collect())
///     }
/// }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// One request's input (for a classifier: its token ids).
    type Input: Send + 'static;
    /// One request's output (for a classifier: its prediction).
    type Output: Send + 'static;
    /// The error a batch call can fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The cost of one input in tokens, used for the batch token budget and the queue's token
    /// bound. Must be cheap; it runs on the caller's thread.
    fn cost(&self, input: &Self::Input) -> usize;

    /// Whether the backend pads every row of a batch to its longest row. When it does (the
    /// default), a batch costs `longest × rows` tokens; otherwise the sum of its rows' costs.
    fn padded(&self) -> bool {
        true
    }

    /// Runs one batch and returns exactly one output per input, in order.
    ///
    /// `worker` is the index of the calling worker thread (`0..workers`).
    ///
    /// # Errors
    ///
    /// An error fails every request of this batch, and only those.
    fn run(&self, worker: usize, inputs: &[Self::Input]) -> Result<Vec<Self::Output>, Self::Error>;

    /// Prepares the backend for traffic (for example, one dummy forward pass). The batcher
    /// reports itself not ready until this returns, and runs it on a new backend before a hot
    /// swap.
    ///
    /// # Errors
    ///
    /// A failure at start-up marks the batcher not live; a failure during a hot swap keeps the
    /// old backend serving.
    fn warm_up(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}
