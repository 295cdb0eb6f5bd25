//! Development aid: seconds per MB of `analyze` on each hostile shape at a few sizes.
//!
//! `cargo run --release -p clinfer-phi --example worst_case -- [KiB ...]` (default 64 128 256).
//! The criterion bench `worst_case` is the measurement of record; this prints a quick table.

#[path = "../tests/support/hostile.rs"]
mod hostile;

use std::time::Instant;

use clinfer_phi::Scrubber;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().map(|k| k * 1024))
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![64 << 10, 128 << 10, 256 << 10]
    } else {
        sizes
    };
    let scrubber = Scrubber::builder().max_input_bytes(64 << 20).build()?;
    for shape in hostile::SHAPES {
        let mut line = format!("{:20}", shape.name);
        for &n in &sizes {
            let text = shape.build(n);
            let t = Instant::now();
            let spans = scrubber.analyze(&text)?;
            let s = t.elapsed().as_secs_f64();
            line += &format!(
                "  {:>6} KiB {:8.3} s/MB ({} spans)",
                n >> 10,
                s / (n as f64 / 1e6),
                spans.len()
            );
        }
        println!("{line}");
    }
    Ok(())
}
