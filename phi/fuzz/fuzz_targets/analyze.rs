//! Fuzzes `analyze` and `redact` on arbitrary input: no panic, spans sorted, non-overlapping,
//! in bounds and on char boundaries. Run with `cargo +nightly fuzz run analyze` in `phi/`.
#![no_main]

use std::sync::OnceLock;

use clinfer_phi::{Operator, Operators, Scrubber};
use libfuzzer_sys::fuzz_target;

fn scrubber() -> &'static (Scrubber, Operators) {
    static S: OnceLock<(Scrubber, Operators)> = OnceLock::new();
    S.get_or_init(|| {
        let s = Scrubber::builder().max_input_bytes(1 << 20).build().expect("builds");
        let ops = Operators::builder()
            .key("fuzzing-key-0123456789")
            .default_operator(Operator::Surrogate)
            .build()
            .expect("valid operators");
        (s, ops)
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (s, ops) = scrubber();
    let spans = s.analyze(&text).expect("input below the limit");
    let mut last = 0;
    for sp in &spans {
        assert!(sp.start >= last && sp.start < sp.end && sp.end <= text.len());
        assert!(text.is_char_boundary(sp.start) && text.is_char_boundary(sp.end));
        last = sp.end;
    }
    let r = s.redact(&text, ops).expect("input below the limit");
    assert_eq!(r.spans, spans);
});
