//! Load generator: SST-2 dev sentences through the [`Pipeline`](clinfer::Pipeline) from many
//! concurrent callers, against the same classifier called one request at a time.
//!
//! ```text
//! cargo run --release --example loadgen -- --model ../shared/models/teacher-minilm-sst2 \
//!     --requests 872 --concurrency 64
//! ```
//!
//! Prints, for both modes, requests per second and latency p50/p95/p99, then the speed-up.
//! PHI scrubbing is off unless `--scrub` is given (SST-2 holds no PHI; scrubbing adds its own
//! cost on the callers' threads).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use clinfer::core::{BatchLayout, Classifier, DeviceSpec};
use clinfer::{ClassifyOptions, Pipeline};

#[derive(Parser, Debug)]
#[command(about = "Concurrent load through the Pipeline vs one request at a time")]
struct Args {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// SST-2 dev file (TSV with a header, `label<TAB>sentence`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/sst2/dev.tsv"))]
    data: PathBuf,
    /// Requests per mode (sentences are reused in order when fewer).
    #[arg(long, default_value_t = 872)]
    requests: usize,
    /// Concurrent callers for the pipeline.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Most rows per forward pass.
    #[arg(long, default_value_t = 32)]
    max_batch_size: usize,
    /// Batch wait in milliseconds.
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Model worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Batch layout: auto (packed on the CPU), padded or packed.
    #[arg(long, default_value = "auto")]
    layout: BatchLayout,
    /// De-identify texts in the pipeline run.
    #[arg(long)]
    scrub: bool,
    /// Skip the one-at-a-time baseline.
    #[arg(long)]
    no_baseline: bool,
}

struct Report {
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn print(&mut self, name: &str) -> f64 {
        self.latencies.sort();
        let n = self.latencies.len();
        let pct = |p: f64| {
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            self.latencies[i].as_secs_f64() * 1e3
        };
        let rps = n as f64 / self.wall.as_secs_f64();
        println!(
            "{name:<28} {n:>6} requests in {:>7.2} s: {rps:>8.1} req/s, latency p50 {:>8.2} ms, p95 {:>8.2} ms, p99 {:>8.2} ms",
            self.wall.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99)
        );
        rps
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let data = std::fs::read_to_string(&args.data)
        .map_err(|e| format!("cannot read {}: {e}", args.data.display()))?;
    let sentences: Vec<String> = data
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_owned()))
        .collect();
    if sentences.is_empty() || args.requests == 0 || args.concurrency == 0 {
        return Err("need sentences, --requests > 0 and --concurrency > 0".into());
    }
    let texts: Vec<String> = sentences
        .iter()
        .cycle()
        .take(args.requests)
        .cloned()
        .collect();
    let classifier = Arc::new(
        Classifier::builder()
            .model_dir(&args.model)
            .device(args.device)
            .batch_layout(args.layout)
            .build()
            .map_err(|e| e.to_string())?,
    );
    // Warm the classifier once so neither mode pays first-call costs.
    classifier
        .predict(&[texts[0].as_str()])
        .map_err(|e| e.to_string())?;

    let mut baseline_rps = None;
    if !args.no_baseline {
        let start = Instant::now();
        let mut latencies = Vec::with_capacity(texts.len());
        for t in &texts {
            let t0 = Instant::now();
            classifier
                .predict(&[t.as_str()])
                .map_err(|e| e.to_string())?;
            latencies.push(t0.elapsed());
        }
        let mut r = Report {
            wall: start.elapsed(),
            latencies,
        };
        baseline_rps = Some(r.print("sequential Classifier"));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut report = rt.block_on(async {
        let pipeline = Pipeline::builder()
            .classifier(Arc::clone(&classifier))
            .scrub(args.scrub)
            .max_batch_size(args.max_batch_size)
            .max_wait(Duration::from_millis(args.max_wait_ms))
            .workers(args.workers)
            .queue_capacity(args.concurrency.max(1024))
            .build()
            .map_err(|e| e.to_string())?;
        pipeline.wait_ready().await;
        let texts = Arc::new(texts);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let callers: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (p, texts, next) = (pipeline.clone(), Arc::clone(&texts), Arc::clone(&next));
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = texts.get(i) else { break };
                        let t0 = Instant::now();
                        p.classify(t, ClassifyOptions::default())
                            .await
                            .map_err(|e| e.to_string())?;
                        lat.push(t0.elapsed());
                    }
                    Ok::<_, String>(lat)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for c in callers {
            latencies.extend(c.await.map_err(|e| e.to_string())??);
        }
        let wall = start.elapsed();
        pipeline.shutdown(Duration::from_secs(10)).await;
        Ok::<_, String>(Report { wall, latencies })
    })?;
    let name = format!("Pipeline, {} callers", args.concurrency);
    let rps = report.print(&name);
    if let Some(base) = baseline_rps {
        println!("speed-up: {:.2}x", rps / base);
    }
    Ok(())
}
