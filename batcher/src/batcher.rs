//! The batcher: handle, admission, scheduler task and worker threads.

use std::future::Future;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::registry::Registry;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use crate::backend::Backend;
use crate::config::{BatcherBuilder, Config, SubmitOptions};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Reason};
use crate::queue::{Entry, Limits, Queue};
use crate::wait::block_on;

/// What a served request gets back: the output and where its time went.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Response<O> {
    /// The backend's output for this request.
    pub output: O,
    /// Time from admission until a worker took the batch.
    pub queue_time: Duration,
    /// Time the backend spent on the whole batch.
    pub compute_time: Duration,
    /// Rows in the batch this request was part of.
    pub batch_size: usize,
}

/// Where the batcher is in its life, as reported by [`Handle::health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The backend is warming up; requests are admitted and wait.
    WarmingUp,
    /// Serving.
    Ready,
    /// Shutting down: no admission, queued work is finishing.
    Draining,
    /// Stopped; every request fails with [`Error::ShuttingDown`].
    Stopped,
    /// The backend's warm-up failed; the batcher still tries to serve but is not live.
    Failed,
}

/// Current queue occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueDepth {
    /// Queued requests.
    pub requests: usize,
    /// Their total cost in tokens.
    pub tokens: usize,
}

/// How a [`Handle::shutdown`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// Whether everything queued was served before the drain timeout.
    pub drained: bool,
    /// Requests still queued at the timeout, failed with [`Error::ShuttingDown`].
    pub failed: usize,
}

type Reply<O> = oneshot::Sender<Result<Response<O>>>;

struct Payload<I, O> {
    input: I,
    reply: Reply<O>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining,
    Closed,
}

struct State<I, O> {
    queue: Queue<Payload<I, O>>,
    phase: Phase,
    idle_workers: usize,
    in_flight: usize,
    /// When the scheduler will wake on its own, if it sleeps on a timer.
    wake_at: Option<Instant>,
}

struct Job<I, O> {
    entries: Vec<Entry<Payload<I, O>>>,
    dispatched: Instant,
}

pub(crate) struct Shared<B: Backend> {
    cfg: Config,
    backend: RwLock<Arc<B>>,
    state: Mutex<State<B::Input, B::Output>>,
    /// Wakes the scheduler.
    wake: Notify,
    /// Signalled when a draining queue has emptied and no batch is in flight.
    drained: Notify,
    health: watch::Sender<Health>,
    metrics: Metrics,
    /// Moving average of batch compute time, for `retry_after`.
    batch_nanos: AtomicU64,
    workers_alive: AtomicUsize,
}

impl<B: Backend> Shared<B> {
    fn limits(&self) -> Limits {
        Limits {
            max_rows: self.cfg.max_batch_size,
            max_tokens: self.cfg.max_batch_tokens,
            padded: self.backend.read().padded(),
            length_aware: self.cfg.length_aware,
            window: self.cfg.length_window,
            aging_step: self.cfg.aging_step,
        }
    }

    fn publish_queue(&self, st: &State<B::Input, B::Output>) {
        self.metrics.set_queue(st.queue.len(), st.queue.tokens());
    }

    fn retry_after(&self, queued: usize) -> Duration {
        let per_batch = match self.batch_nanos.load(Ordering::Relaxed) {
            0 => self.cfg.max_wait.max(Duration::from_millis(10)),
            n => Duration::from_nanos(n),
        };
        let batches = queued.div_ceil(self.cfg.max_batch_size).max(1);
        let waves = batches.div_ceil(self.cfg.workers) as u32;
        per_batch
            .saturating_mul(waves)
            .clamp(Duration::from_millis(1), Duration::from_secs(60))
    }

    /// Stops everything: no admission, queued requests fail, the scheduler exits.
    fn close(&self) -> usize {
        let failed = {
            let mut st = self.state.lock();
            if st.phase == Phase::Closed {
                return 0;
            }
            st.phase = Phase::Closed;
            let gone = st.queue.drain();
            self.publish_queue(&st);
            gone
        };
        let n = failed.len();
        for e in failed {
            let _ = e.payload.reply.send(Err(Error::ShuttingDown));
        }
        self.metrics.failed(Reason::Shutdown, n);
        self.health.send_replace(Health::Stopped);
        self.wake.notify_one();
        self.drained.notify_waiters();
        n
    }
}

/// The dynamic batcher: owns the worker threads and the scheduler; dereferences to its
/// [`Handle`].
///
/// Dropping it stops admission and fails every queued request with
/// [`Error::ShuttingDown`] at once; batches already running finish and answer their callers.
/// For a graceful stop, call [`Handle::shutdown`] first.
pub struct Batcher<B: Backend> {
    handle: Handle<B>,
}

impl<B: Backend> std::fmt::Debug for Batcher<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("config", &self.handle.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl Batcher<NoBackend> {
    /// Starts a builder with the default settings.
    pub fn builder() -> BatcherBuilder {
        BatcherBuilder::default()
    }
}

/// Placeholder backend type so that `Batcher::builder()` needs no type annotation.
#[doc(hidden)]
#[derive(Debug)]
pub enum NoBackend {}

impl Backend for NoBackend {
    type Input = ();
    type Output = ();
    type Error = std::convert::Infallible;
    fn cost(&self, _input: &()) -> usize {
        match *self {}
    }
    fn run(&self, _worker: usize, _inputs: &[()]) -> std::result::Result<Vec<()>, Self::Error> {
        match *self {}
    }
}

impl BatcherBuilder {
    /// Validates the settings, starts the worker threads and the scheduler, and begins the
    /// backend's warm-up on the first worker.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid setting, [`Error::Internal`] if a thread cannot be
    /// spawned.
    pub fn build<B: Backend>(self, backend: B) -> Result<Batcher<B>> {
        let cfg = self.validated()?;
        let metrics = Metrics::new(&cfg.metrics_prefix);
        let (health, _) = watch::channel(Health::WarmingUp);
        let shared = Arc::new(Shared {
            backend: RwLock::new(Arc::new(backend)),
            state: Mutex::new(State {
                queue: Queue::new(),
                phase: Phase::Running,
                idle_workers: 0,
                in_flight: 0,
                wake_at: None,
            }),
            wake: Notify::new(),
            drained: Notify::new(),
            health,
            metrics,
            batch_nanos: AtomicU64::new(0),
            workers_alive: AtomicUsize::new(0),
            cfg,
        });
        let spawn_err = |e: std::io::Error| Error::Internal {
            message: format!("could not spawn a batcher thread: {e}"),
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Job<B::Input, B::Output>>();
        for w in 0..shared.cfg.workers {
            let rx = rx.clone();
            let sh = Arc::clone(&shared);
            sh.workers_alive.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name(format!("clinfer-batcher-worker-{w}"))
                .spawn(move || worker(w, &sh, &rx));
            if let Err(e) = spawned {
                shared.workers_alive.fetch_sub(1, Ordering::SeqCst);
                shared.close();
                return Err(spawn_err(e));
            }
        }
        let runtime = self
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        let sched = scheduler(Arc::clone(&shared), tx);
        match runtime {
            Some(rt) => {
                rt.spawn(sched);
            }
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(spawn_err)?;
                let spawned = std::thread::Builder::new()
                    .name("clinfer-batcher-scheduler".into())
                    .spawn(move || rt.block_on(sched));
                if let Err(e) = spawned {
                    shared.close();
                    return Err(spawn_err(e));
                }
            }
        }
        Ok(Batcher {
            handle: Handle { shared },
        })
    }
}

impl<B: Backend> Batcher<B> {
    /// A cheap, cloneable handle for submitting requests.
    pub fn handle(&self) -> Handle<B> {
        self.handle.clone()
    }
}

impl<B: Backend> Deref for Batcher<B> {
    type Target = Handle<B>;
    fn deref(&self) -> &Handle<B> {
        &self.handle
    }
}

impl<B: Backend> Drop for Batcher<B> {
    fn drop(&mut self) {
        self.handle.shared.close();
    }
}

/// A cheap, cloneable handle to a [`Batcher`]. It stays usable after the batcher is dropped,
/// answering [`Error::ShuttingDown`].
pub struct Handle<B: Backend> {
    shared: Arc<Shared<B>>,
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

/// A submitted request's result, to await or to [`wait`](Pending::wait) for.
///
/// Dropping it before completion cancels the request (see [`Handle::submit`]).
#[must_use = "dropping a Pending cancels its request"]
pub struct Pending<B: Backend> {
    rx: oneshot::Receiver<Result<Response<B::Output>>>,
    id: u64,
    shared: Arc<Shared<B>>,
    done: bool,
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

/// Closes the batcher if the scheduler task ends for any reason (including its runtime
/// shutting down), so that no caller waits forever.
struct CloseOnDrop<B: Backend>(Arc<Shared<B>>);

impl<B: Backend> Drop for CloseOnDrop<B> {
    fn drop(&mut self) {
        self.0.close();
    }
}

async fn scheduler<B: Backend>(
    shared: Arc<Shared<B>>,
    tx: crossbeam_channel::Sender<Job<B::Input, B::Output>>,
) {
    let _close = CloseOnDrop(Arc::clone(&shared));
    let sh = &*shared;
    loop {
        let notified = sh.wake.notified();
        let mut expired = Vec::new();
        let wake_at = {
            let mut st = sh.state.lock();
            if st.phase == Phase::Closed {
                return;
            }
            let now = Instant::now();
            expired.extend(st.queue.expire(now));
            let draining = st.phase == Phase::Draining;
            let lim = sh.limits();
            while st.idle_workers > 0 {
                let Some(oldest) = st.queue.oldest() else {
                    break;
                };
                let Some((ids, choice)) = st.queue.plan(now, &lim) else {
                    break;
                };
                let waited_enough = now >= oldest + sh.cfg.max_wait;
                if !(choice.full || waited_enough || draining) {
                    break;
                }
                let entries = st.queue.take(&ids, &choice);
                if entries.is_empty() {
                    break;
                }
                st.idle_workers -= 1;
                st.in_flight += 1;
                if tx
                    .send(Job {
                        entries,
                        dispatched: now,
                    })
                    .is_err()
                {
                    // Every worker is gone; close() below fails the rest.
                    drop(st);
                    sh.close();
                    return;
                }
            }
            if draining && st.queue.is_empty() && st.in_flight == 0 {
                sh.drained.notify_waiters();
            }
            let flush_at = if st.idle_workers > 0 {
                st.queue.oldest().map(|t| t + sh.cfg.max_wait)
            } else {
                None
            };
            let wake_at = match (flush_at, st.queue.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            st.wake_at = wake_at;
            sh.publish_queue(&st);
            wake_at
        };
        sh.metrics.failed(Reason::Deadline, expired.len());
        for e in expired {
            let _ = e.payload.reply.send(Err(Error::DeadlineExceeded));
        }
        match wake_at {
            Some(t) => {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep_until(t) => {}
                }
            }
            None => notified.await,
        }
    }
}

/// Decrements the live-worker count when a worker thread ends.
struct Alive<'a>(&'a AtomicUsize);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn worker<B: Backend>(
    index: usize,
    sh: &Shared<B>,
    rx: &crossbeam_channel::Receiver<Job<B::Input, B::Output>>,
) {
    let _alive = Alive(&sh.workers_alive);
    if index != 0 {
        sh.state.lock().idle_workers += 1;
        sh.wake.notify_one();
    } else {
        let backend = Arc::clone(&sh.backend.read());
        let ok = matches!(
            catch_unwind(AssertUnwindSafe(|| backend.warm_up())),
            Ok(Ok(()))
        );
        let next = if ok { Health::Ready } else { Health::Failed };
        if !ok {
            tracing::error!("clinfer-batcher: backend warm-up failed");
        }
        sh.state.lock().idle_workers += 1;
        sh.wake.notify_one();
        sh.health.send_if_modified(|h| {
            let change = *h == Health::WarmingUp;
            if change {
                *h = next;
            }
            change
        });
    }
    while let Ok(job) = rx.recv() {
        run_job(index, sh, job);
        {
            let mut st = sh.state.lock();
            st.idle_workers += 1;
            st.in_flight -= 1;
        }
        sh.wake.notify_one();
    }
}

fn run_job<B: Backend>(index: usize, sh: &Shared<B>, job: Job<B::Input, B::Output>) {
    let rows = job.entries.len();
    let mut inputs = Vec::with_capacity(rows);
    let mut waiters = Vec::with_capacity(rows);
    let (mut longest, mut sum) = (0usize, 0usize);
    for e in job.entries {
        longest = longest.max(e.cost);
        sum += e.cost;
        let queue_time = job.dispatched.saturating_duration_since(e.enqueued);
        sh.metrics.queue_time(queue_time);
        inputs.push(e.payload.input);
        waiters.push((e.payload.reply, queue_time));
    }
    let padded = longest * rows;
    let padding_ratio = if padded == 0 {
        0.0
    } else {
        1.0 - sum as f64 / padded as f64
    };
    let backend = Arc::clone(&sh.backend.read());
    let start = std::time::Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| backend.run(index, &inputs)));
    let compute = start.elapsed();
    drop(inputs);
    sh.metrics.batch(rows, padding_ratio, compute);
    let nanos = u64::try_from(compute.as_nanos()).unwrap_or(u64::MAX);
    let old = sh.batch_nanos.load(Ordering::Relaxed);
    let avg = if old == 0 {
        nanos
    } else {
        old - old / 8 + nanos / 8
    };
    sh.batch_nanos.store(avg, Ordering::Relaxed);
    let fail = |err: Error, reason: Reason, waiters: Vec<(Reply<B::Output>, Duration)>| {
        sh.metrics.failed(reason, waiters.len());
        for (reply, _) in waiters {
            let _ = reply.send(Err(err.clone()));
        }
    };
    match result {
        Ok(Ok(outputs)) if outputs.len() == rows => {
            for ((reply, queue_time), output) in waiters.into_iter().zip(outputs) {
                let _ = reply.send(Ok(Response {
                    output,
                    queue_time,
                    compute_time: compute,
                    batch_size: rows,
                }));
            }
        }
        Ok(Ok(outputs)) => fail(
            Error::Internal {
                message: format!(
                    "the backend returned {} outputs for a batch of {rows}",
                    outputs.len()
                ),
            },
            Reason::Internal,
            waiters,
        ),
        Ok(Err(e)) => fail(
            Error::Backend {
                source: Arc::new(e),
            },
            Reason::Backend,
            waiters,
        ),
        Err(_) => {
            tracing::error!(
                rows,
                "clinfer-batcher: the backend panicked; worker continues"
            );
            fail(
                Error::Internal {
                    message: format!("the backend panicked on a batch of {rows} rows"),
                },
                Reason::Internal,
                waiters,
            );
        }
    }
}
