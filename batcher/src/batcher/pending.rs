//! A submitted request's future; dropping it withdraws the request from the queue.

use super::*;

/// A submitted request's result, to await or to [`wait`](Pending::wait) for.
///
/// Dropping it before completion cancels the request (see [`Handle::submit`]).
#[must_use = "dropping a Pending cancels its request"]
pub struct Pending<B: Backend> {
    pub(super) rx: oneshot::Receiver<Result<Response<B::Output>>>,
    pub(super) id: u64,
    pub(super) shared: Arc<Shared<B>>,
    pub(super) done: bool,
}

impl<B: Backend> std::fmt::Debug for Pending<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Pending<B> {
    /// Blocks the calling thread until the result arrives. Needs no tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`Handle::submit`].
    pub fn wait(self) -> Result<Response<B::Output>> {
        block_on(self)
    }
}

impl<B: Backend> Future for Pending<B> {
    type Output = Result<Response<B::Output>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.done = true;
                // A dropped reply means the batcher went away without answering.
                Poll::Ready(r.unwrap_or(Err(Error::ShuttingDown)))
            }
        }
    }
}

impl<B: Backend> Drop for Pending<B> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let sh = &self.shared;
        let removed = {
            let mut st = sh.state.lock();
            let removed = st.queue.remove(self.id).is_some();
            if removed {
                sh.publish_queue(&st);
            }
            removed
        };
        if removed {
            sh.metrics.failed(Reason::Cancelled, 1);
            // A draining batcher may now be empty.
            sh.wake.notify_one();
        }
    }
}
