//! Development aid for performance work: writes every span the scrubber finds on the
//! evaluation sets (when present), generated notes and perturbed copies of them, one line
//! per span, so that two builds can be compared with `diff`.
//!
//! `cargo run --release -p clinfer-phi --example span_dump > /tmp/spans.txt`

#[path = "../tests/support/synth.rs"]
mod synth;

use std::io::Write;
use std::path::PathBuf;

use clinfer_phi::Scrubber;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/phi")
}

fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    if let Ok(raw) = std::fs::read_to_string(data_dir().join("asq_phi_dev.txt")) {
        for block in raw.split("===QUERY===").skip(1) {
            if let Some((q, _)) = block.split_once("===PHI_TAGS===") {
                texts.push(q.trim().to_owned());
            }
        }
    }
    if let Ok(raw) = std::fs::read_to_string(data_dir().join("presidio_synth_v2.json")) {
        let docs: Vec<serde_json::Value> = serde_json::from_str(&raw).unwrap_or_default();
        for d in &docs {
            texts.push(d["full_text"].as_str().unwrap_or("").to_owned());
        }
    }
    for n in synth::notes(7_000_000, 400) {
        texts.push(n.text);
    }
    for n in synth::prose_notes(8_000_000, 100) {
        texts.push(n.text);
    }
    // perturbed copies: case changes, non-ASCII glued to words, lines joined
    let base: Vec<String> = texts.clone();
    for (i, t) in base.iter().enumerate() {
        let v = match i % 5 {
            0 => t.to_uppercase(),
            1 => t.to_lowercase(),
            2 => t.replace(' ', " é "),
            3 => t.replace('\n', " ").replace(". ", "・"),
            _ => t.replace('a', "ä").replace("1", "١"),
        };
        texts.push(v);
    }
    texts
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let configs = [
        Scrubber::builder().build()?,
        Scrubber::builder()
            .bare_years(true)
            .states_and_countries(false)
            .min_age(80)
            .allow(["Riverside"])
            .deny(["Zebulon"], clinfer_phi::Kind::Name)
            .known("Maria Okonkwo", clinfer_phi::Kind::Name)
            .pattern(r"\bQ[0-9]{4}\b", clinfer_phi::Kind::Id)
            .build()?,
    ];
    let texts = corpus();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for (c, s) in configs.iter().enumerate() {
        for (d, t) in texts.iter().enumerate() {
            for sp in s.analyze(t)? {
                writeln!(
                    out,
                    "{c} {d} {} {} {} {:.3}",
                    sp.start, sp.end, sp.kind, sp.score
                )?;
            }
        }
    }
    Ok(())
}
