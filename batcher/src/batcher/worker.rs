//! The worker threads: run one batch at a time on the backend and answer its requests.

use super::*;

/// Decrements the live-worker count when a worker thread ends.
struct Alive<'a>(&'a AtomicUsize);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn worker<B: Backend>(
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
