//! Development aid for instruction counts: `valgrind --tool=callgrind
//! --toggle-collect='*measure*' target/release/examples/cg_analyze [prose|dense]` counts one
//! warm `analyze` of the 100 prose notes joined (or 200 PHI-dense notes joined).

#[path = "../tests/support/synth.rs"]
mod synth;

use std::hint::black_box;

use clinfer_phi::Scrubber;

#[inline(never)]
fn measure(s: &Scrubber, text: &str) -> usize {
    s.analyze(black_box(text)).expect("small").len()
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "prose".into());
    let text: String = if which == "dense" {
        let notes = synth::notes(42, 200);
        notes
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    } else {
        let notes = synth::prose_notes(7, 100);
        notes
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    if let Ok(p) = std::env::var("PHI_DUMP") {
        std::fs::write(p, &text).expect("writable");
    }
    let s = Scrubber::builder().build().expect("builds");
    black_box(s.analyze(&text).expect("small"));
    println!("{} bytes, {} spans", text.len(), measure(&s, &text));
}
