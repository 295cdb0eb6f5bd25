//! Batcher overhead with a no-op backend, and the padding that length-aware batch formation
//! saves over first in, first out on SST-2 sentence lengths.
//!
//! Run with `cargo bench -p clinfer-batcher --bench overhead`. The padding report and the
//! open-loop 50,000 requests/s measurement are printed before criterion's own benchmarks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinfer_batcher::{Backend, Batcher, SubmitOptions};
use criterion::{Criterion, Throughput};
use parking_lot::{Condvar, Mutex};

/// A backend that does nothing: every input costs one token.
struct Noop;

impl Backend for Noop {
    type Input = u32;
    type Output = u32;
    type Error = std::convert::Infallible;

    fn cost(&self, _input: &u32) -> usize {
        1
    }

    fn run(&self, _worker: usize, inputs: &[u32]) -> Result<Vec<u32>, Self::Error> {
        Ok(inputs.to_vec())
    }
}

/// Records the shape of every batch; the first batch waits for a gate so that the whole
/// workload is queued before formation starts.
struct Recorder {
    batches: Arc<Mutex<Vec<(usize, usize, usize)>>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Backend for Recorder {
    type Input = usize;
    type Output = ();
    type Error = std::convert::Infallible;

    fn cost(&self, input: &usize) -> usize {
        *input
    }

    fn run(&self, _worker: usize, inputs: &[usize]) -> Result<Vec<()>, Self::Error> {
        let (lock, cv) = &*self.gate;
        let mut open = lock.lock();
        while !*open {
            cv.wait(&mut open);
        }
        drop(open);
        let longest = inputs.iter().copied().max().unwrap_or(0);
        let sum = inputs.iter().sum();
        self.batches.lock().push((inputs.len(), longest, sum));
        Ok(vec![(); inputs.len()])
    }
}

fn sst2_lengths() -> Option<Vec<usize>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/sst2/dev.tsv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("padding report skipped: {} not found", path.display());
        return None;
    };
    // Approximate WordPiece length: whitespace words + [CLS] + [SEP].
    Some(
        text.lines()
            .skip(1)
            .filter_map(|l| {
                l.split_once('\t')
                    .map(|(_, s)| s.split_whitespace().count() + 2)
            })
            .collect(),
    )
}

/// Queues every length behind a blocked first batch, then serves them; returns
/// (batches, padded tokens, real tokens) over the whole workload.
fn padding(
    rt: &tokio::runtime::Runtime,
    lengths: &[usize],
    length_aware: bool,
    rows: usize,
    window: usize,
) -> (usize, usize, usize) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    rt.block_on(async {
        let b = Batcher::builder()
            .max_batch_size(rows)
            .max_batch_tokens(8192)
            .max_wait(Duration::ZERO)
            .queue_requests(lengths.len() + 1)
            .queue_tokens(1 << 20)
            .length_aware(length_aware)
            .length_window(window)
            .build(Recorder {
                batches: Arc::clone(&batches),
                gate: Arc::clone(&gate),
            })
            .expect("valid settings");
        b.wait_ready().await;
        let pending: Vec<_> = lengths
            .iter()
            .map(|&l| {
                b.try_submit(l, SubmitOptions::new())
                    .expect("queue sized for all")
            })
            .collect();
        {
            let (lock, cv) = &*gate;
            *lock.lock() = true;
            cv.notify_all();
        }
        for p in pending {
            p.await.expect("served");
        }
    });
    let batches = batches.lock();
    let padded = batches.iter().map(|(r, l, _)| r * l).sum();
    let real = batches.iter().map(|(_, _, s)| s).sum();
    (batches.len(), padded, real)
}

fn padding_report(rt: &tokio::runtime::Runtime) {
    let Some(lengths) = sst2_lengths() else {
        return;
    };
    println!(
        "padding on SST-2 dev ({} sentences, length = words + 2), all queued at once:",
        lengths.len()
    );
    for rows in [8, 16, 32] {
        let (fb, fp, real) = padding(rt, &lengths, false, rows, 4 * rows);
        println!(
            "  max_batch_size {rows:>2}: FIFO {fb} batches, {fp} padded tokens ({:.1}% padding)",
            100.0 * (1.0 - real as f64 / fp as f64),
        );
        for mult in [4, 16] {
            let (lb, lp, _) = padding(rt, &lengths, true, rows, mult * rows);
            println!(
                "      length-aware, window {mult:>2} x {rows}: {lb} batches, {lp} padded tokens \
                 ({:.1}% padding): {:.1}% fewer tokens than FIFO",
                100.0 * (1.0 - real as f64 / lp as f64),
                100.0 * (1.0 - lp as f64 / fp as f64),
            );
        }
    }
}

/// Offers `rate` requests per second for `secs` seconds in 1 ms bursts and reports latency.
fn open_loop(rt: &tokio::runtime::Runtime, rate: usize, secs: u64) {
    rt.block_on(async {
        let b = Batcher::builder()
            .max_batch_size(256)
            .max_batch_tokens(256)
            .max_wait(Duration::ZERO)
            .queue_requests(65_536)
            .queue_tokens(65_536)
            .build(Noop)
            .expect("valid settings");
        b.wait_ready().await;
        let per_ms = rate / 1000;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut tasks = Vec::with_capacity(rate * secs as usize);
        let start = Instant::now();
        let mut rejected = 0usize;
        for _ in 0..(secs * 1000) {
            tick.tick().await;
            for i in 0..per_ms {
                let sent = Instant::now();
                match b.try_submit(i as u32, SubmitOptions::new()) {
                    Ok(p) => tasks.push(tokio::spawn(async move {
                        p.await.expect("served");
                        sent.elapsed()
                    })),
                    Err(_) => rejected += 1,
                }
            }
        }
        let offered_for = start.elapsed();
        let mut lat = Vec::with_capacity(tasks.len());
        for t in tasks {
            lat.push(t.await.expect("task"));
        }
        let total = start.elapsed();
        lat.sort_unstable();
        let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
        println!(
            "open loop {rate} req/s for {secs} s: offered over {offered_for:.2?}, all answered after \
             {total:.2?}, rejected {rejected}; latency p50 {:.1?} p90 {:.1?} p99 {:.1?} max {:.1?}",
            q(0.5),
            q(0.9),
            q(0.99),
            lat[lat.len() - 1],
        );
    });
}

fn bench_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let b = rt.block_on(async {
        let b = Batcher::builder()
            .max_batch_size(256)
            .max_batch_tokens(256)
            .max_wait(Duration::ZERO)
            .queue_requests(65_536)
            .queue_tokens(65_536)
            .build(Noop)
            .expect("valid settings");
        b.wait_ready().await;
        b
    });
    let h = b.handle();
    c.bench_function(
        "one request round trip (submit + await, idle batcher)",
        |bench| {
            bench.iter(|| {
                rt.block_on(h.submit(1, SubmitOptions::new()))
                    .expect("served")
            });
        },
    );
    const N: usize = 10_000;
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(N as u64));
    for callers in [1usize, 64] {
        g.bench_function(
            format!("{N} requests from {callers} concurrent callers"),
            |bench| {
                bench.iter(|| {
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..callers)
                            .map(|_| {
                                let h = h.clone();
                                tokio::spawn(async move {
                                    for i in 0..N / callers {
                                        h.submit(i as u32, SubmitOptions::new())
                                            .await
                                            .expect("served");
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.expect("task");
                        }
                    });
                });
            },
        );
    }
    g.finish();
    drop(b);
}

/// Runs the criterion benchmarks (few samples: the machine is shared).
fn benches() {
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_overhead(&mut c);
    c.final_summary();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .expect("runtime");
    padding_report(&rt);
    open_loop(&rt, 50_000, 2);
    drop(rt);
    benches();
}
