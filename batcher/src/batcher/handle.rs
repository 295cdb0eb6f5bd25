//! The handle callers submit through: admission, cost checks, queue depth, backend swaps and shutdown.

use super::*;

/// A cheap, cloneable handle to a [`Batcher`]. It stays usable after the batcher is dropped,
/// answering [`Error::ShuttingDown`].
pub struct Handle<B: Backend> {
    pub(super) shared: Arc<Shared<B>>,
}

impl<B: Backend> Clone for Handle<B> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Handle<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("health", &self.health())
            .field("queue", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Handle<B> {
    /// Submits one input and waits for its output.
    ///
    /// Dropping the returned future before it completes cancels the request: if it is still
    /// queued it is removed and its slot freed.
    ///
    /// # Errors
    ///
    /// Admission errors ([`Error::Overloaded`], [`Error::TooLong`], [`Error::ShuttingDown`])
    /// come at once; [`Error::DeadlineExceeded`], [`Error::Backend`], [`Error::Internal`]
    /// and [`Error::ShuttingDown`] may come later.
    pub async fn submit(&self, input: B::Input, options: SubmitOptions) -> Result<B::Output> {
        Ok(self.try_submit(input, options)?.await?.output)
    }

    /// Blocking twin of [`submit`](Self::submit) for synchronous callers. It does not need a
    /// tokio runtime on the calling thread; it blocks that thread, so do not call it from
    /// async code.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn submit_blocking(&self, input: B::Input, options: SubmitOptions) -> Result<B::Output> {
        Ok(self.try_submit(input, options)?.wait()?.output)
    }

    /// Admits one input without waiting, returning a [`Pending`] result to await (or
    /// [`wait`](Pending::wait) for) later.
    ///
    /// # Errors
    ///
    /// [`Error::Overloaded`] when the queue is full in requests or tokens,
    /// [`Error::TooLong`] when the input can never fit a batch, [`Error::DeadlineExceeded`]
    /// when the deadline has already passed, and [`Error::ShuttingDown`] after shutdown.
    pub fn try_submit(&self, input: B::Input, options: SubmitOptions) -> Result<Pending<B>> {
        let sh = &self.shared;
        let cost = sh.backend.read().cost(&input);
        if cost > sh.cfg.max_batch_tokens {
            sh.metrics.failed(Reason::TooLong, 1);
            return Err(Error::TooLong {
                cost,
                max: sh.cfg.max_batch_tokens,
            });
        }
        let now = Instant::now();
        let deadline = [
            options.deadline,
            options.timeout.map(|t| now + t),
            sh.cfg.default_deadline.map(|t| now + t),
        ]
        .into_iter()
        .flatten()
        .min();
        if deadline.is_some_and(|d| d <= now) {
            sh.metrics.failed(Reason::Deadline, 1);
            return Err(Error::DeadlineExceeded);
        }
        let (reply, rx) = oneshot::channel();
        let (id, wake) = {
            let mut st = sh.state.lock();
            if st.phase != Phase::Running {
                drop(st);
                sh.metrics.failed(Reason::Shutdown, 1);
                return Err(Error::ShuttingDown);
            }
            if st.queue.len() >= sh.cfg.queue_requests
                || st.queue.tokens() + cost > sh.cfg.queue_tokens
            {
                let queued = st.queue.len();
                drop(st);
                sh.metrics.failed(Reason::Overloaded, 1);
                return Err(Error::Overloaded {
                    retry_after: sh.retry_after(queued),
                });
            }
            let id = st.queue.push(Entry {
                cost,
                rank: options.priority.rank(),
                enqueued: now,
                deadline,
                overdue: false,
                payload: Payload { input, reply },
            });
            let wake = st.idle_workers > 0
                || match (deadline, st.wake_at) {
                    (Some(d), Some(w)) => d < w,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
            sh.publish_queue(&st);
            (id, wake)
        };
        sh.metrics.admitted();
        if wake {
            sh.wake.notify_one();
        }
        Ok(Pending {
            rx,
            id,
            shared: Arc::clone(sh),
            done: false,
        })
    }

    /// Current queue occupancy.
    pub fn queue_depth(&self) -> QueueDepth {
        let st = self.shared.state.lock();
        QueueDepth {
            requests: st.queue.len(),
            tokens: st.queue.tokens(),
        }
    }

    /// The batcher's life-cycle state.
    pub fn health(&self) -> Health {
        *self.shared.health.borrow()
    }

    /// Whether the batcher should receive traffic: warmed up, not draining, with a worker.
    pub fn is_ready(&self) -> bool {
        self.health() == Health::Ready && self.shared.workers_alive.load(Ordering::SeqCst) > 0
    }

    /// Whether the batcher is alive: not stopped, warm-up did not fail, a worker runs.
    pub fn is_live(&self) -> bool {
        !matches!(self.health(), Health::Stopped | Health::Failed)
            && self.shared.workers_alive.load(Ordering::SeqCst) > 0
    }

    /// Waits until the batcher leaves the warm-up state, and returns the state it reached.
    pub async fn wait_ready(&self) -> Health {
        let mut rx = self.shared.health.subscribe();
        let result = rx.wait_for(|h| *h != Health::WarmingUp).await;
        match result {
            Ok(h) => *h,
            // The sender lives in `Shared`, which `self` keeps alive.
            Err(_) => Health::Stopped,
        }
    }

    /// The validated settings.
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }

    /// Replaces the backend between batches: batches already running finish on the old one,
    /// every later batch runs on `backend`. The new backend is warmed up first, on the
    /// calling thread (from async code, call this inside `spawn_blocking`).
    ///
    /// # Errors
    ///
    /// [`Error::Load`] if the warm-up fails; the old backend keeps serving.
    pub fn replace_backend(&self, backend: B) -> Result<()> {
        match catch_unwind(AssertUnwindSafe(|| backend.warm_up())) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(Error::Load {
                    source: Arc::new(e),
                })
            }
            Err(_) => {
                return Err(Error::Internal {
                    message: "the new backend panicked during warm-up".into(),
                })
            }
        }
        *self.shared.backend.write() = Arc::new(backend);
        Ok(())
    }

    /// Loads a new backend with `load`, warms it up and swaps it in, as
    /// [`replace_backend`](Self::replace_backend).
    ///
    /// # Errors
    ///
    /// [`Error::Load`] if loading or warming up fails; the old backend keeps serving.
    pub fn replace_backend_with<E>(
        &self,
        load: impl FnOnce() -> std::result::Result<B, E>,
    ) -> Result<()>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let backend = load().map_err(|e| Error::Load {
            source: Arc::new(e),
        })?;
        self.replace_backend(backend)
    }

    /// The metrics in the Prometheus text exposition format (including anything registered
    /// through [`register_metrics`](Self::register_metrics)).
    pub fn encode_metrics(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Gives access to the metrics registry, so that an embedding application can add its
    /// own metrics to the same exposition. Names get the batcher's prefix; use
    /// [`Registry::sub_registry_with_prefix`] for another namespace.
    pub fn register_metrics<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        self.shared.metrics.with_registry(f)
    }

    /// Like [`register_metrics`](Self::register_metrics), on the root of the same registry:
    /// names are exactly as registered (no batcher prefix), so that a facade exposes its own
    /// namespace from the one registry, e.g. with
    /// `r.sub_registry_with_prefix("clinfer_pipeline")`.
    pub fn register_metrics_unprefixed<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        self.shared.metrics.with_root_registry(f)
    }

    /// Stops admission ([`Error::ShuttingDown`]), serves what is queued until `drain_timeout`
    /// (ignoring `max_wait`), then fails whatever is left and stops the workers once their
    /// current batch is done.
    pub async fn shutdown(&self, drain_timeout: Duration) -> ShutdownOutcome {
        let sh = &self.shared;
        {
            let mut st = sh.state.lock();
            if st.phase == Phase::Running {
                st.phase = Phase::Draining;
                sh.health.send_replace(Health::Draining);
            }
        }
        sh.wake.notify_one();
        let until = Instant::now() + drain_timeout;
        let drained = loop {
            let notified = sh.drained.notified();
            {
                let st = sh.state.lock();
                if st.phase == Phase::Closed {
                    break st.queue.is_empty();
                }
                if st.queue.is_empty() && st.in_flight == 0 {
                    break true;
                }
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                break false;
            }
        };
        let failed = sh.close();
        ShutdownOutcome { drained, failed }
    }
}
