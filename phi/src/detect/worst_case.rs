//! The rules' work on hostile shapes is counted (not timed) and must grow linearly.
use super::*;

#[path = "../../tests/support/hostile.rs"]
mod hostile;

fn work(engine: &Engine, text: &str) -> Work {
    with_test_env(text, |env| engine.run(env, &mut Vec::new()))
}

fn total(w: Work) -> usize {
    w.forward_bytes + w.reverse_bytes + w.window_bytes
}

/// Quadrupling the input at most quadruples the work (plus a little slack for the
/// constant part of the budget), and no shape costs more than a fixed number of bytes
/// examined per input byte. The quadratic reverse scans this replaced examined 16 times
/// as much for 4 times the input on the URL-like shapes.
#[test]
fn work_grows_linearly_on_hostile_shapes() {
    let engine = Engine::new();
    let rules = engine.rules.len();
    let (small, large) = (16 << 10, 64 << 10);
    for shape in hostile::SHAPES {
        let a = shape.build(small);
        let b = shape.build(large);
        let (wa, wb) = (work(&engine, &a), work(&engine, &b));
        let ratio = total(wb) as f64 / total(wa).max(1) as f64;
        let per_byte = total(wb) as f64 / b.len() as f64;
        assert!(
            ratio <= 4.0 * 1.15,
            "{}: work grew {ratio:.2}x for {}x the input ({wa:?} -> {wb:?})",
            shape.name,
            b.len() / a.len()
        );
        // one forward pass, at most the budget of reverse steps per rule and one
        // whole-text search per rule
        let bound = 1 + 5 * rules;
        assert!(
            per_byte <= bound as f64,
            "{}: {per_byte:.1} bytes examined per input byte (bound {bound})",
            shape.name
        );
        assert!(wb.reverse_bytes <= rules * reverse_budget(b.len()));
    }
}

/// A run that every rule's reverse scan would read back to its start (the URL shapes)
/// exhausts the budget and is searched whole, once.
#[test]
fn long_url_runs_fall_back_to_one_whole_text_search() {
    let engine = Engine::new();
    let text = hostile::SHAPES
        .iter()
        .find(|s| s.name == "www_run")
        .expect("shape exists")
        .build(256 << 10);
    let w = work(&engine, &text);
    assert!(w.whole_text_rules >= 1, "{w:?}");
    assert!(w.reverse_bytes <= engine.rules.len() * reverse_budget(text.len()));
    // the old engine stepped about len^2 / 2 bytes here
    assert!(w.reverse_bytes < text.len() * 16, "{w:?}");
}

/// Ordinary clinical prose never needs the fallback: windows stay small.
#[test]
fn prose_stays_windowed() {
    let engine = Engine::new();
    let para = "Seen by Dr. Alvarez on 03/14/2023 at Riverside Medical Center. Pt's wife Quenby (555-201-3344) at bedside; MRN 00482913. BP 132/84, HR 88, 5/5 strength. ";
    let text = para.repeat(400);
    let w = work(&engine, &text);
    assert_eq!(w.whole_text_rules, 0, "{w:?}");
    assert!(w.reverse_bytes < text.len() * 2, "{w:?}");
}

/// Prints the work of every shape: `cargo test --release -p clinfer-phi --lib print_work -- --ignored --nocapture`.
#[test]
#[ignore = "diagnostic aid, not a test"]
fn print_work() {
    let engine = Engine::new();
    for shape in hostile::SHAPES {
        let t = shape.build(1 << 20);
        println!("{:20} {:?}", shape.name, work(&engine, &t));
    }
}
