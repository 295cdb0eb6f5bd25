//! Behaviour of the batcher, driven by a mock backend under tokio's paused clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clinfer_batcher::{Backend, Batcher, Error, Health, Priority, SubmitOptions};
use parking_lot::{Condvar, Mutex};
use tokio::sync::mpsc;
use tokio::time::Instant;

const CANARY: &str = "Jane Canary-Doe MRN 99887766";

/// A gate that blocks the backend until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut g = self.open.lock();
        while !*g {
            self.cv.wait(&mut g);
        }
    }

    fn open(&self) {
        *self.open.lock() = true;
        self.cv.notify_all();
    }
}

#[derive(Debug, Clone)]
struct Req {
    tag: String,
    cost: usize,
}

fn req(tag: &str) -> Req {
    Req {
        tag: tag.to_owned(),
        cost: 1,
    }
}

fn costly(tag: &str, cost: usize) -> Req {
    Req {
        tag: tag.to_owned(),
        cost,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("mock backend failure")]
struct MockError;

/// Records every batch; a batch holding a `block*` tag waits for the gate, `fail` returns an
/// error, `panic` panics, `short` returns too few outputs.
struct Mock {
    version: u32,
    padded: bool,
    log: Arc<Mutex<Vec<Vec<String>>>>,
    gate: Arc<Gate>,
    warm_gate: Option<Arc<Gate>>,
    warm_fails: bool,
    entered: mpsc::UnboundedSender<usize>,
}

#[derive(Debug, Clone, PartialEq)]
struct Out {
    tag: String,
    version: u32,
    worker: usize,
}

impl Backend for Mock {
    type Input = Req;
    type Output = Out;
    type Error = MockError;

    fn cost(&self, input: &Req) -> usize {
        input.cost
    }

    fn padded(&self) -> bool {
        self.padded
    }

    fn run(&self, worker: usize, inputs: &[Req]) -> Result<Vec<Out>, MockError> {
        self.log
            .lock()
            .push(inputs.iter().map(|r| r.tag.clone()).collect());
        let _ = self.entered.send(worker);
        if inputs.iter().any(|r| r.tag.starts_with("block")) {
            self.gate.wait();
        }
        if inputs.iter().any(|r| r.tag == "fail") {
            return Err(MockError);
        }
        if inputs.iter().any(|r| r.tag == "panic") {
            panic!("backend bug while reading {CANARY}");
        }
        let mut out: Vec<Out> = inputs
            .iter()
            .map(|r| Out {
                tag: r.tag.clone(),
                version: self.version,
                worker,
            })
            .collect();
        if inputs.iter().any(|r| r.tag == "short") {
            out.pop();
        }
        Ok(out)
    }

    fn warm_up(&self) -> Result<(), MockError> {
        if let Some(g) = &self.warm_gate {
            g.wait();
        }
        if self.warm_fails {
            Err(MockError)
        } else {
            Ok(())
        }
    }
}

struct Rig {
    log: Arc<Mutex<Vec<Vec<String>>>>,
    gate: Arc<Gate>,
    entered: mpsc::UnboundedReceiver<usize>,
    tx: mpsc::UnboundedSender<usize>,
}

impl Rig {
    fn new() -> Self {
        let (tx, entered) = mpsc::unbounded_channel();
        Self {
            log: Arc::default(),
            gate: Arc::default(),
            entered,
            tx,
        }
    }

    fn mock(&self, version: u32) -> Mock {
        Mock {
            version,
            padded: true,
            log: Arc::clone(&self.log),
            gate: Arc::clone(&self.gate),
            warm_gate: None,
            warm_fails: false,
            entered: self.tx.clone(),
        }
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.log.lock().clone()
    }

    fn seen(&self, tag: &str) -> bool {
        self.log.lock().iter().flatten().any(|t| t == tag)
    }

    /// Waits until the backend has started one more batch.
    async fn entered(&mut self) -> usize {
        self.entered.recv().await.expect("mock sender alive")
    }
}

fn opts() -> SubmitOptions {
    SubmitOptions::new()
}

fn builder() -> clinfer_batcher::BatcherBuilder {
    Batcher::builder()
        .max_batch_size(8)
        .max_batch_tokens(1000)
        .max_wait(Duration::from_secs(3600))
}

fn tags(b: &[&str]) -> Vec<String> {
    b.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(start_paused = true)]
async fn batch_closes_on_max_batch_size() {
    let rig = Rig::new();
    let b = builder().max_batch_size(4).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let pending: Vec<_> = (0..10)
        .map(|i| b.try_submit(req(&i.to_string()), opts()).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.await.unwrap().output.tag, i.to_string());
    }
    let expected: Vec<Vec<String>> = vec![
        tags(&["0", "1", "2", "3"]),
        tags(&["4", "5", "6", "7"]),
        tags(&["8", "9"]),
    ];
    assert_eq!(rig.batches(), expected);
}

#[tokio::test(start_paused = true)]
async fn batch_closes_on_padded_token_budget() {
    let rig = Rig::new();
    let b = builder().max_batch_tokens(100).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    // 30 × 3 = 90 fits, 30 × 4 = 120 does not.
    let pending: Vec<_> = (0..5)
        .map(|i| b.try_submit(costly(&i.to_string(), 30), opts()).unwrap())
        .collect();
    for p in pending {
        p.await.unwrap();
    }
    let sizes: Vec<usize> = rig.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 2]);
}

#[tokio::test(start_paused = true)]
async fn unpadded_backends_count_the_sum_of_costs() {
    let rig = Rig::new();
    let mut mock = rig.mock(1);
    mock.padded = false;
    let b = builder()
        .max_batch_tokens(100)
        .length_aware(false)
        .build(mock)
        .unwrap();
    b.wait_ready().await;
    let pending: Vec<_> = [60, 10, 30, 90]
        .iter()
        .enumerate()
        .map(|(i, &c)| b.try_submit(costly(&i.to_string(), c), opts()).unwrap())
        .collect();
    for p in pending {
        p.await.unwrap();
    }
    // 60 + 10 + 30 = 100 fits exactly; 90 goes alone.
    assert_eq!(rig.batches(), vec![tags(&["0", "1", "2"]), tags(&["3"])]);
}

#[tokio::test(start_paused = true)]
async fn partial_batch_flushes_after_max_wait_from_the_oldest() {
    let rig = Rig::new();
    let b = builder()
        .max_wait(Duration::from_millis(10))
        .build(rig.mock(1))
        .unwrap();
    assert_eq!(b.wait_ready().await, Health::Ready);
    let t0 = Instant::now();
    let first = b.try_submit(req("a"), opts()).unwrap();
    tokio::time::sleep(Duration::from_millis(4)).await;
    let second = b.try_submit(req("b"), opts()).unwrap();
    let (r1, r2) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(10),
        "flushed 10 ms after the oldest"
    );
    assert_eq!(r1.queue_time, Duration::from_millis(10));
    assert_eq!(r2.queue_time, Duration::from_millis(6));
    assert_eq!(r1.batch_size, 2);
    assert_eq!(rig.batches(), vec![tags(&["a", "b"])]);
}

#[tokio::test(start_paused = true)]
async fn zero_max_wait_is_greedy_continuous_batching() {
    let mut rig = Rig::new();
    let b = builder()
        .max_wait(Duration::ZERO)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let t0 = Instant::now();
    let a = b.try_submit(req("block-a"), opts()).unwrap();
    rig.entered().await;
    let rest: Vec<_> = ["b", "c"]
        .iter()
        .map(|t| b.try_submit(req(t), opts()).unwrap())
        .collect();
    rig.gate.open();
    a.await.unwrap();
    for p in rest {
        p.await.unwrap();
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "nothing waited for a timer");
    assert_eq!(rig.batches(), vec![tags(&["block-a"]), tags(&["b", "c"])]);
}

async fn formation(length_aware: bool) -> Vec<Vec<String>> {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(3)
        .length_aware(length_aware)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let first = b.try_submit(costly("block", 1), opts()).unwrap();
    rig.entered().await;
    let pending: Vec<_> = [10, 50, 11, 52, 12, 49]
        .iter()
        .map(|&c| b.try_submit(costly(&c.to_string(), c), opts()).unwrap())
        .collect();
    rig.gate.open();
    first.await.unwrap();
    for p in pending {
        p.await.unwrap();
    }
    rig.batches()[1..].to_vec()
}

#[tokio::test(start_paused = true)]
async fn length_aware_formation_groups_similar_lengths() {
    assert_eq!(
        formation(true).await,
        vec![tags(&["10", "11", "12"]), tags(&["50", "49", "52"])]
    );
    assert_eq!(
        formation(false).await,
        vec![tags(&["10", "50", "11"]), tags(&["52", "12", "49"])]
    );
}

#[tokio::test(start_paused = true)]
async fn full_queue_is_overloaded_at_once_in_requests_and_tokens() {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .queue_requests(2)
        .queue_tokens(1000)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let q1 = b.try_submit(req("q1"), opts()).unwrap();
    let _q2 = b.try_submit(req("q2"), opts()).unwrap();
    match b.try_submit(req("q3"), opts()) {
        Err(Error::Overloaded { retry_after }) => assert!(retry_after > Duration::ZERO),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    // Freeing a slot makes room again.
    drop(q1);
    let _q3 = b.try_submit(req("q3"), opts()).unwrap();
    assert_eq!(b.queue_depth().requests, 2);
    rig.gate.open();
    a.await.unwrap();

    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .max_batch_tokens(100)
        .queue_tokens(100)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let _big = b.try_submit(costly("big", 60), opts()).unwrap();
    assert!(matches!(
        b.try_submit(costly("more", 50), opts()),
        Err(Error::Overloaded { .. })
    ));
    let _fits = b.try_submit(costly("fits", 40), opts()).unwrap();
    assert_eq!(b.queue_depth().tokens, 100);
    rig.gate.open();
    a.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn too_long_input_fails_at_admission() {
    let rig = Rig::new();
    let b = builder().max_batch_tokens(100).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let err = b.submit(costly("huge", 101), opts()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLong {
                cost: 101,
                max: 100
            }
        ),
        "{err:?}"
    );
    assert_eq!(b.queue_depth().requests, 0);
    assert!(b.submit(costly("edge", 100), opts()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn expired_request_fails_promptly_and_never_reaches_the_model() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let t0 = Instant::now();
    let late = b
        .try_submit(req("late"), opts().timeout(Duration::from_millis(50)))
        .unwrap();
    let patient = b.try_submit(req("patient"), opts()).unwrap();
    assert!(matches!(late.await, Err(Error::DeadlineExceeded)));
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(50),
        "failed by the timer"
    );
    assert_eq!(b.queue_depth().requests, 1, "its slot is free");
    rig.gate.open();
    a.await.unwrap();
    patient.await.unwrap();
    assert!(!rig.seen("late"));
    assert!(b
        .encode_metrics()
        .contains("clinfer_batcher_failures_total{reason=\"deadline\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn callers_can_only_shorten_the_default_deadline() {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .default_deadline(Some(Duration::from_millis(20)))
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let t0 = Instant::now();
    let r = b
        .submit(req("x"), opts().timeout(Duration::from_secs(3600)))
        .await;
    assert!(matches!(r, Err(Error::DeadlineExceeded)));
    assert_eq!(t0.elapsed(), Duration::from_millis(20));
    let past = b.try_submit(req("y"), opts().deadline(Instant::now()));
    assert!(matches!(past, Err(Error::DeadlineExceeded)));
    rig.gate.open();
    // The in-flight request is not subject to its deadline any more.
    a.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_request() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let gone = b.try_submit(req("dropped"), opts()).unwrap();
    assert_eq!(b.queue_depth().requests, 1);
    drop(gone);
    assert_eq!(b.queue_depth().requests, 0);
    // An async caller that gives up (here through a timeout) cancels the same way.
    let r = tokio::time::timeout(Duration::from_millis(5), b.submit(req("gave-up"), opts())).await;
    assert!(r.is_err());
    assert_eq!(b.queue_depth().requests, 0);
    rig.gate.open();
    a.await.unwrap();
    b.submit(req("after"), opts()).await.unwrap();
    assert!(!rig.seen("dropped"));
    assert!(!rig.seen("gave-up"));
    assert!(b
        .encode_metrics()
        .contains("clinfer_batcher_failures_total{reason=\"cancelled\"} 2"));
}

#[tokio::test(start_paused = true)]
async fn higher_priority_goes_first() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let pending: Vec<_> = [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("high", Priority::High),
    ]
    .iter()
    .map(|(t, p)| b.try_submit(req(t), opts().priority(*p)).unwrap())
    .collect();
    rig.gate.open();
    a.await.unwrap();
    for p in pending {
        p.await.unwrap();
    }
    let order: Vec<String> = rig.batches().into_iter().flatten().skip(1).collect();
    assert_eq!(order, tags(&["high", "normal", "low"]));
}

#[tokio::test(start_paused = true)]
async fn aging_keeps_low_priority_from_starving() {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .aging_step(Duration::from_millis(100))
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let low = b
        .try_submit(req("low"), opts().priority(Priority::Low))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let high = b
        .try_submit(req("high"), opts().priority(Priority::High))
        .unwrap();
    rig.gate.open();
    a.await.unwrap();
    low.await.unwrap();
    high.await.unwrap();
    let order: Vec<String> = rig.batches().into_iter().flatten().skip(1).collect();
    assert_eq!(order, tags(&["low", "high"]));
}

#[tokio::test(start_paused = true)]
async fn several_workers_pull_from_one_queue() {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .workers(2)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    let p1 = b.try_submit(req("block-1"), opts()).unwrap();
    let p2 = b.try_submit(req("block-2"), opts()).unwrap();
    // Both batches are inside the backend at once: two workers.
    let mut workers = vec![rig.entered().await, rig.entered().await];
    workers.sort_unstable();
    assert_eq!(workers, vec![0, 1]);
    rig.gate.open();
    let mut done = vec![
        p1.await.unwrap().output.worker,
        p2.await.unwrap().output.worker,
    ];
    done.sort_unstable();
    assert_eq!(done, vec![0, 1]);
}

#[tokio::test(start_paused = true)]
async fn backend_error_fails_only_its_batch() {
    let rig = Rig::new();
    let b = builder().max_batch_size(2).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let p1 = b.try_submit(req("fail"), opts()).unwrap();
    let p2 = b.try_submit(req("neighbour"), opts()).unwrap();
    let (e1, e2) = (p1.await.unwrap_err(), p2.await.unwrap_err());
    match (&e1, &e2) {
        (Error::Backend { source: s1 }, Error::Backend { source: s2 }) => {
            assert!(Arc::ptr_eq(s1, s2), "one error shared by the batch");
            assert!(s1.downcast_ref::<MockError>().is_some());
        }
        other => panic!("expected backend errors, got {other:?}"),
    }
    let p3 = b.try_submit(req("ok1"), opts()).unwrap();
    let p4 = b.try_submit(req("ok2"), opts()).unwrap();
    assert_eq!(p3.await.unwrap().output.tag, "ok1");
    assert_eq!(p4.await.unwrap().output.tag, "ok2");
}

#[tokio::test(start_paused = true)]
async fn backend_panic_is_internal_and_the_worker_survives() {
    let rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let canary_req = Req {
        tag: "panic".into(),
        cost: 1,
    };
    let err = b.submit(canary_req, opts()).await.unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("Canary"),
        "no panic payload in the error"
    );
    assert!(b.is_live());
    assert_eq!(b.submit(req("next"), opts()).await.unwrap().tag, "next");
    let err = b.submit(req("short"), opts()).await.unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    let m = b.encode_metrics();
    assert!(
        m.contains("clinfer_batcher_failures_total{reason=\"internal\"} 2"),
        "{m}"
    );
}

// Real clock on purpose: with a paused clock the runtime would jump to the drain timeout
// while the worker thread is busy. Nothing here asserts on time.
#[tokio::test]
async fn shutdown_drains_the_queue_and_refuses_new_work() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let q: Vec<_> = ["q1", "q2"]
        .iter()
        .map(|t| b.try_submit(req(t), opts()).unwrap())
        .collect();
    let h = b.handle();
    let stop = tokio::spawn(async move { h.shutdown(Duration::from_secs(60)).await });
    while b.health() != Health::Draining {
        tokio::task::yield_now().await;
    }
    assert_eq!(b.health(), Health::Draining);
    assert!(!b.is_ready());
    assert!(matches!(
        b.submit(req("late"), opts()).await,
        Err(Error::ShuttingDown)
    ));
    rig.gate.open();
    a.await.unwrap();
    for p in q {
        p.await.unwrap();
    }
    let outcome = stop.await.unwrap();
    assert!(outcome.drained);
    assert_eq!(outcome.failed, 0);
    assert_eq!(b.health(), Health::Stopped);
    assert!(!b.is_live());
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_what_is_left_at_the_drain_timeout() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let q = b.try_submit(req("queued"), opts()).unwrap();
    let t0 = Instant::now();
    let outcome = b.shutdown(Duration::from_millis(100)).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    assert!(!outcome.drained);
    assert_eq!(outcome.failed, 1);
    assert!(matches!(q.await, Err(Error::ShuttingDown)));
    rig.gate.open();
    // The batch that was running still answers its caller.
    assert_eq!(a.await.unwrap().output.tag, "block");
    assert!(!rig.seen("queued"));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_batcher_never_leaves_a_caller_hanging() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let h = b.handle();
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let q = b.try_submit(req("queued"), opts()).unwrap();
    drop(b);
    assert!(matches!(q.await, Err(Error::ShuttingDown)));
    assert!(matches!(
        h.submit(req("after"), opts()).await,
        Err(Error::ShuttingDown)
    ));
    rig.gate.open();
    assert!(a.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn readiness_follows_warm_up() {
    let rig = Rig::new();
    let warm = Arc::new(Gate::default());
    let mut mock = rig.mock(1);
    mock.warm_gate = Some(Arc::clone(&warm));
    let b = builder().max_wait(Duration::ZERO).build(mock).unwrap();
    assert_eq!(b.health(), Health::WarmingUp);
    assert!(!b.is_ready());
    assert!(b.is_live());
    // Requests are admitted during warm-up and served after it.
    let p = b.try_submit(req("early"), opts()).unwrap();
    warm.open();
    assert_eq!(b.wait_ready().await, Health::Ready);
    assert!(b.is_ready());
    p.await.unwrap();

    let rig = Rig::new();
    let mut mock = rig.mock(1);
    mock.warm_fails = true;
    let b = builder().build(mock).unwrap();
    assert_eq!(b.wait_ready().await, Health::Failed);
    assert!(!b.is_live());
    assert!(!b.is_ready());
}

#[tokio::test(start_paused = true)]
async fn hot_swap_happens_between_batches() {
    let mut rig = Rig::new();
    let b = builder().max_batch_size(1).build(rig.mock(1)).unwrap();
    b.wait_ready().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    b.replace_backend(rig.mock(2)).unwrap();
    rig.gate.open();
    assert_eq!(
        a.await.unwrap().output.version,
        1,
        "in flight finishes on the old model"
    );
    assert_eq!(b.submit(req("x"), opts()).await.unwrap().version, 2);

    let loaded = b.replace_backend_with(|| Err::<Mock, _>(MockError));
    assert!(matches!(loaded, Err(Error::Load { .. })));
    let mut bad = rig.mock(3);
    bad.warm_fails = true;
    assert!(matches!(b.replace_backend(bad), Err(Error::Load { .. })));
    assert_eq!(b.submit(req("y"), opts()).await.unwrap().version, 2);
    assert!(b.is_ready());
}

#[tokio::test(start_paused = true)]
async fn metrics_are_prometheus_text_and_extensible() {
    let mut rig = Rig::new();
    let b = builder()
        .max_batch_size(1)
        .queue_requests(1)
        .max_batch_tokens(100)
        .queue_tokens(100)
        .build(rig.mock(1))
        .unwrap();
    b.wait_ready().await;
    b.submit(req("one"), opts()).await.unwrap();
    rig.entered().await;
    let a = b.try_submit(req("block"), opts()).unwrap();
    rig.entered().await;
    let q = b.try_submit(costly(CANARY, 3), opts()).unwrap();
    assert!(b.try_submit(req(CANARY), opts()).is_err());
    assert!(b.try_submit(costly(CANARY, 101), opts()).is_err());
    let extra = prometheus_client::metrics::counter::Counter::<u64>::default();
    b.register_metrics(|r| r.register("facade_things", "Things the facade counts", extra.clone()));
    extra.inc();
    let m = b.encode_metrics();
    for needle in [
        "clinfer_batcher_queue_requests 1",
        "clinfer_batcher_queue_tokens 3",
        "clinfer_batcher_queue_time_seconds_bucket",
        "clinfer_batcher_compute_time_seconds_count 1",
        "clinfer_batcher_batch_size_bucket",
        "clinfer_batcher_padding_ratio_bucket",
        "clinfer_batcher_failures_total{reason=\"overloaded\"} 1",
        "clinfer_batcher_failures_total{reason=\"too_long\"} 1",
        "clinfer_batcher_facade_things_total 1",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert!(!m.contains("Canary"), "no request content in metrics");
    rig.gate.open();
    a.await.unwrap();
    q.await.unwrap();
}

#[test]
fn errors_never_carry_request_content() {
    let errors = [
        Error::Overloaded {
            retry_after: Duration::from_millis(5),
        },
        Error::TooLong { cost: 9, max: 8 },
        Error::DeadlineExceeded,
        Error::ShuttingDown,
    ];
    for e in errors {
        assert!(!e.to_string().contains("Canary"));
    }
}

#[test]
fn blocking_callers_need_no_runtime() {
    let rig = Rig::new();
    let b = Batcher::builder()
        .max_batch_size(4)
        .max_wait(Duration::from_millis(1))
        .build(rig.mock(7))
        .unwrap();
    let served = Arc::new(AtomicBool::new(true));
    std::thread::scope(|s| {
        for t in 0..4 {
            let h = b.handle();
            let served = Arc::clone(&served);
            s.spawn(move || {
                for i in 0..5 {
                    let tag = format!("{t}-{i}");
                    let out = h.submit_blocking(req(&tag), opts()).unwrap();
                    if out.tag != tag || out.version != 7 {
                        served.store(false, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert!(served.load(Ordering::SeqCst));
    let p = b.try_submit(req("waited"), opts()).unwrap();
    assert_eq!(p.wait().unwrap().output.tag, "waited");
    assert_eq!(rig.batches().iter().map(Vec::len).sum::<usize>(), 21);
}
