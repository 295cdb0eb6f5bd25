//! The batcher, split by concern as tower splits its services: this module holds the shared
//! state and the builder that starts everything; [`handle`] admits requests, [`pending`] is
//! the future a caller awaits, [`scheduler`] forms batches on the async runtime, and
//! [`worker`] runs them on the worker threads.

mod handle;
mod pending;
mod scheduler;
mod worker;

pub use handle::Handle;
pub use pending::Pending;
use scheduler::scheduler;
use worker::worker;

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
        let metrics = Metrics::new(&cfg.metrics_prefix, &cfg.metrics_labels);
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
