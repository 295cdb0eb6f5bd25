//! Development aid: prints the redaction and spans of each stdin line, or of a generated
//! synthetic note with `--seed N`.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::io::BufRead;

use clinfer_phi::{Operators, Scrubber};

fn show(s: &Scrubber, text: &str) -> Result<(), clinfer_phi::Error> {
    let r = s.redact(text, &Operators::tag())?;
    println!("{}", r.text);
    for sp in &r.spans {
        println!(
            "   {} {:?} {:.2}",
            sp.kind,
            &text[sp.start..sp.end],
            sp.score
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = Scrubber::builder().build()?;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--seed") {
        let seed: u64 = args.get(i + 1).ok_or("--seed needs a value")?.parse()?;
        let note = synth::note(seed);
        println!("gold: {:?}", note.values());
        show(&s, &note.text)?;
        return Ok(());
    }
    for line in std::io::stdin().lock().lines() {
        show(&s, &line?)?;
    }
    Ok(())
}
