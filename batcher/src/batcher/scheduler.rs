//! The scheduler task: expires deadlines, forms batches and hands them to idle workers.

use super::*;

/// Closes the batcher if the scheduler task ends for any reason (including its runtime
/// shutting down), so that no caller waits forever.
struct CloseOnDrop<B: Backend>(Arc<Shared<B>>);

impl<B: Backend> Drop for CloseOnDrop<B> {
    fn drop(&mut self) {
        self.0.close();
    }
}

pub(super) async fn scheduler<B: Backend>(
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
