//! The drift monitor's steady state: counted, not timed. Observing a request allocates
//! nothing, and a million requests leave its memory where it started.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clinfer::batcher::prometheus_client::registry::Registry;
use clinfer::drift::{phi_bit, ModelShape, Observation};
use clinfer::phi::Kind;
use clinfer::{DriftConfig, DriftMonitor};

/// Counts the allocations made while `COUNTING` is on (this test binary has one test, so no
/// other thread allocates meanwhile).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn observation(i: u64, emb: &mut [f32]) -> Observation<'_> {
    let x = ((i.wrapping_mul(2_654_435_761) % 1000) as f32) / 1000.0;
    for (d, e) in emb.iter_mut().enumerate() {
        *e = (x * (d as f32 + 1.0)).sin();
    }
    Observation {
        label_id: usize::from(x > 0.4),
        score: 0.5 + x / 2.0,
        tokens: 3 + (x * 120.0) as usize,
        truncated: i.is_multiple_of(97),
        unk_tokens: usize::from(i.is_multiple_of(13)),
        phi_kinds: if i.is_multiple_of(7) {
            phi_bit(Kind::Name)
        } else {
            0
        },
        embedding: Some(emb),
    }
}

#[test]
fn observing_allocates_nothing_and_memory_stays_fixed_over_a_million_requests() {
    let shape = ModelShape {
        labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
        max_length: 128,
        embedding_dim: 384,
        scrubbed: true,
    };
    let mut registry = Registry::default();
    let monitor = DriftMonitor::new(
        DriftConfig::default().reference_size(1000).window(1000),
        shape,
        Some(&mut registry),
    )
    .expect("valid settings");
    let memory = monitor.memory_bytes();
    let mut emb = vec![0f32; 384];
    // the reference freezes, the window fills once and evaluations start
    for i in 0..3000 {
        monitor.observe(&observation(i, &mut emb));
    }
    assert_ne!(monitor.report().state, clinfer::DriftState::WarmingUp);

    COUNTING.store(true, Ordering::SeqCst);
    for i in 3000..1_003_000 {
        let obs = observation(i, &mut emb);
        monitor.observe(&obs);
    }
    COUNTING.store(false, Ordering::SeqCst);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);
    // 1,000,000 observations, 10,000 evaluations (every 100 requests) with gauge updates
    assert_eq!(allocations, 0, "{allocations} allocations in steady state");

    let report = monitor.report();
    assert_eq!(report.observed, 1_003_000);
    assert!(
        report.requests <= 1000,
        "the window holds {}",
        report.requests
    );
    assert_eq!(monitor.memory_bytes(), memory);
    assert_eq!(report.memory_bytes, memory);
}
