//! What every bench shares: the handler body, the same in every case.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The handler body of every case: a counter increment the optimizer
/// cannot remove (a plain load and store, no locked instruction).
#[inline(never)]
pub fn body(value: u64) {
    COUNTER.store(
        COUNTER.load(Ordering::Relaxed) + black_box(value),
        Ordering::Relaxed,
    );
}
