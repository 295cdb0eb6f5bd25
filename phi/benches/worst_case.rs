//! Seconds per MB of `analyze` on hostile shapes (long runs without spaces, runs of
//! capitalised words, repeated cue words) at 1, 2 and 4 MB: the figures behind the
//! worst-case section of the crate README.
//!
//! `cargo bench -p clinfer-phi --bench worst_case` (add a shape name to run one shape).
// criterion's macros generate undocumented items
#![allow(missing_docs)]

#[path = "../tests/support/hostile.rs"]
mod hostile;

use std::hint::black_box;
use std::time::Duration;

use clinfer_phi::Scrubber;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let scrubber = Scrubber::builder()
        .max_input_bytes(8 << 20)
        .build()
        .expect("scrubber builds");
    for shape in hostile::SHAPES {
        let mut g = c.benchmark_group(shape.name);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_secs(1));
        for mb in [1usize, 2, 4] {
            let text = shape.build(mb << 20);
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_function(BenchmarkId::from_parameter(format!("{mb}MiB")), |b| {
                b.iter(|| {
                    scrubber
                        .analyze(black_box(&text))
                        .expect("within the limit")
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
