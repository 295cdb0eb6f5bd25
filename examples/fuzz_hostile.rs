//! Time-boxed random search for panics and slow inputs on the scrubber and the tokenizer.
//!
//! ```sh
//! cargo run --release --example fuzz_hostile -- --seconds 600 --seed 1
//! ```
//!
//! Each case is a text built from runs: a fragment (a URL or e-mail opener, a cue word, a
//! capitalised name, digits and separators, random ASCII or non-ASCII characters, white
//! space) repeated a random number of times, so that long runs of every hostile shape occur
//! and mix. Small cases (up to 4 KiB) search for panics and wrong offsets; large ones (64 KiB
//! to 1 MiB) for slow inputs. Every case runs `Scrubber::analyze`, `Scrubber::redact` and
//! `Tokenizer::encode` (the bundled demo model's WordPiece tokenizer, truncating to 512
//! tokens), each under `catch_unwind`. A large case slower than `--max-s-per-mb` (default
//! 2.0) in either path, a panic or a span off a char boundary is reported with its seed and
//! the shape of its runs (never the text) and makes the exit status 1.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use clinfer::core::{Tokenizer, Truncation};
use clinfer::phi::{Operators, Scrubber};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
#[command(about = "Random search for panics and slow inputs (scrubber and tokenizer)")]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// First seed; case `i` uses `seed + i`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tokenizer to fuzz.
    #[arg(long, default_value = "models/clinfer-demo-sst2/tokenizer.json")]
    tokenizer: PathBuf,
    /// Slowest accepted rate on large cases, seconds per MB (either path).
    #[arg(long, default_value_t = 2.0)]
    max_s_per_mb: f64,
    /// Instead of the random search, print both paths' seconds per MB on every fixed hostile
    /// shape (`phi/tests/support/hostile.rs`) at 1, 2 and 4 MiB.
    #[arg(long)]
    shapes: bool,
}

#[path = "../phi/tests/support/hostile.rs"]
mod hostile;

/// One timed run of `f`, in seconds.
fn timed<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed().as_secs_f64()
}

fn print_shapes(scrubber: &Scrubber, tokenizer: &Tokenizer) {
    println!("shape                 scrubber s/MB (1, 2, 4 MiB)   tokenizer s/MB (1, 2, 4 MiB)");
    for shape in hostile::SHAPES {
        let (mut sc, mut tk) = (String::new(), String::new());
        for mb in [1usize, 2, 4] {
            let text = shape.build(mb << 20);
            let size = text.len() as f64 / 1e6;
            sc += &format!(" {:7.3}", timed(|| scrubber.analyze(&text)) / size);
            tk += &format!(" {:7.3}", timed(|| tokenizer.encode(&text)) / size);
        }
        println!("{:20} {sc}       {tk}", shape.name);
    }
}

const FRAGMENTS: &[&str] = &[
    "www.",
    "http://",
    "https://",
    "ftp://",
    "example.com/",
    ".com",
    ".org",
    "@",
    "a@",
    "a.",
    "1.",
    "1/2/",
    "12-",
    "#",
    "+1 ",
    ":",
    "1f:",
    "/",
    "-",
    ".",
    ",",
    "'",
    "(",
    ")",
    "MRN ",
    "MRN: ",
    "SSN ",
    "phone: ",
    "Dr. ",
    "Mr. ",
    "Patient: ",
    "Jan ",
    "March ",
    "Monday ",
    "aged ",
    "yo ",
    "Hospital ",
    "Medical Center ",
    "St. ",
    "Street ",
    "Smith ",
    "SMITH ",
    "Smith, ",
    "A. ",
    "MD ",
    "Elm ",
    "the ",
    "and ",
    "of ",
    "\n",
    " ",
    "  ",
    "\t",
    "0",
    "7",
    "1234",
    "617-555-0143 ",
    "01/02/2023 ",
    "\u{e9}",
    "\u{75c5}",
    "\u{1f600}",
    "\u{200b}",
    "\u{301}",
    "\u{0}",
    "Z",
    "a",
    "A1b2",
];

/// A random fragment: mostly from the list, sometimes random characters.
fn fragment(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(1..6))
            .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
            .collect(),
        1 => (0..rng.random_range(1..4))
            .filter_map(|_| char::from_u32(rng.random_range(0x80u32..0x3_0000)))
            .collect(),
        _ => FRAGMENTS[rng.random_range(0..FRAGMENTS.len())].to_owned(),
    }
}

/// A case of about `len` bytes made of runs; returns the text and a description of its runs.
fn case(rng: &mut StdRng, len: usize) -> (String, String) {
    let mut text = String::with_capacity(len + 64);
    let mut shape = String::new();
    while text.len() < len {
        let f = fragment(rng);
        let left = len - text.len();
        // run lengths from one to the whole remaining size, skewed to long runs on large cases
        let max_reps = (left / f.len().max(1)).max(1);
        let reps = if rng.random_bool(0.3) {
            max_reps
        } else {
            rng.random_range(1..=max_reps.min(64))
        };
        if shape.len() < 200 {
            shape += &format!("{}x{} ", f.escape_debug(), reps);
        }
        for _ in 0..reps {
            text.push_str(&f);
        }
    }
    (text, shape)
}

struct Worst {
    scrub: f64,
    tokenize: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let scrubber = match Scrubber::builder().max_input_bytes(4 << 20).build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scrubber: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tokenizer = match Tokenizer::from_file(&args.tokenizer, 512, Truncation::Truncate) {
        Ok(t) => t.with_max_input_bytes(4 << 20),
        Err(e) => {
            eprintln!("tokenizer {}: {e}", args.tokenizer.display());
            return ExitCode::FAILURE;
        }
    };
    if args.shapes {
        print_shapes(&scrubber, &tokenizer);
        return ExitCode::SUCCESS;
    }
    let ops = Operators::tag();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (mut cases, mut large, mut bytes, mut failures) = (0u64, 0u64, 0usize, 0u64);
    let mut worst = Worst {
        scrub: 0.0,
        tokenize: 0.0,
    };
    let mut i = 0u64;
    while Instant::now() < deadline {
        let seed = args.seed.wrapping_add(i);
        i += 1;
        let mut rng = StdRng::seed_from_u64(seed);
        let is_large = rng.random_bool(0.15);
        let len = if is_large {
            rng.random_range(64 << 10..=1 << 20)
        } else {
            rng.random_range(0..=4096)
        };
        let (text, shape) = case(&mut rng, len);
        cases += 1;
        bytes += text.len();

        let t = Instant::now();
        let scrubbed = catch_unwind(AssertUnwindSafe(|| {
            let spans = scrubber.analyze(&text)?;
            let red = scrubber.redact(&text, &ops)?;
            Ok::<_, clinfer::phi::Error>((spans, red))
        }));
        let scrub_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let tokens = catch_unwind(AssertUnwindSafe(|| tokenizer.encode(&text)));
        let tok_s = t.elapsed().as_secs_f64();

        let mut problems = Vec::new();
        match &scrubbed {
            Err(_) => problems.push("scrubber panicked".to_owned()),
            Ok(Err(e)) => problems.push(format!("scrubber error: {e}")),
            Ok(Ok((spans, _))) => {
                if spans.iter().any(|s| {
                    s.start >= s.end
                        || !text.is_char_boundary(s.start)
                        || !text.is_char_boundary(s.end)
                }) {
                    problems.push("span off a char boundary or empty".to_owned());
                }
            }
        }
        if tokens.is_err() {
            problems.push("tokenizer panicked".to_owned());
        }
        if is_large {
            large += 1;
            let mb = text.len() as f64 / 1e6;
            let (s, k) = (scrub_s / mb, tok_s / mb);
            worst.scrub = worst.scrub.max(s);
            worst.tokenize = worst.tokenize.max(k);
            if s > args.max_s_per_mb {
                problems.push(format!("scrubber took {s:.2} s/MB"));
            }
            if k > args.max_s_per_mb {
                problems.push(format!("tokenizer took {k:.2} s/MB"));
            }
        }
        if !problems.is_empty() {
            failures += 1;
            eprintln!(
                "seed {seed}: {} ({} bytes; runs: {shape})",
                problems.join("; "),
                text.len()
            );
        }
    }
    println!(
        "{cases} cases ({large} of 64 KiB-1 MiB), {:.1} MB in {} s; slowest large case: scrubber {:.3} s/MB, tokenizer {:.3} s/MB; {failures} failing",
        bytes as f64 / 1e6,
        args.seconds,
        worst.scrub,
        worst.tokenize
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
