//! `publish` to sync handlers allocates nothing on the success path: a
//! count, so a test, with a global allocator that counts.

// The counting allocator below is the one `unsafe` in the project: a
// `GlobalAlloc` impl must be `unsafe`; it only counts and forwards to the
// system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use eventbus::prelude::*;

thread_local! {
    /// Allocations made on this thread while `COUNTING` is set.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to `System`, which upholds
// `GlobalAlloc`'s contract; the thread-locals are const-initialised and
// allocate nothing themselves.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|allocations| allocations.set(allocations.get() + 1));
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|allocations| allocations.set(0));
    COUNTING.with(|counting| counting.set(true));
    f();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "zero_alloc.one")]
struct One(u64);

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "zero_alloc.ten")]
struct Ten(u64);

#[subscribe]
fn one(event: &One) {
    std::hint::black_box(event.0);
}

macro_rules! ten {
    ($($name:ident)*) => {$(
        #[subscribe]
        fn $name(event: &Ten) {
            std::hint::black_box(event.0);
        }
    )*};
}
ten!(t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);

#[test]
fn publish_to_one_sync_handler_allocates_nothing() {
    let bus = Bus::new();
    let _ = bus.publish(One(0));
    let allocations = allocations_in(|| {
        for n in 0..1000 {
            let report = bus.publish(One(n));
            assert_eq!(report.handled(), 1);
        }
    });
    assert_eq!(allocations, 0);
}

#[test]
fn publish_to_ten_sync_handlers_allocates_nothing() {
    let bus = Bus::new();
    let _ = bus.publish(Ten(0));
    let allocations = allocations_in(|| {
        for n in 0..1000 {
            let report = bus.publish(Ten(n));
            assert_eq!(report.handled(), 10);
        }
    });
    assert_eq!(allocations, 0);
}

/// Takes the records of `Ten` only.
struct TenOnly;

impl eventbus::Sink for TenOnly {
    fn wants(&self, event: &eventbus::EventMeta) -> bool {
        event.name() == "zero_alloc.ten"
    }

    fn send<'a>(
        &'a self,
        records: &'a [std::sync::Arc<eventbus::EventRecord>],
    ) -> eventbus::layer::BoxFuture<'a, Vec<eventbus::SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|_| eventbus::SendOutcome::Sent)
                .collect()
        })
    }
}

#[test]
fn publish_of_an_event_no_sink_wants_allocates_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bus = Bus::builder()
        .runtime(runtime.handle().clone())
        .sink("ten only", TenOnly)
        .build()
        .unwrap();
    let _ = bus.publish(One(0));
    let allocations = allocations_in(|| {
        for n in 0..1000 {
            let report = bus.publish(One(n));
            assert_eq!(report.handled(), 1);
        }
    });
    assert_eq!(allocations, 0);
    // The sink's type is recorded: that allocates (the record).
    let allocations = allocations_in(|| {
        let report = bus.publish(Ten(0));
        assert_eq!(report.handled(), 10);
    });
    assert!(allocations > 0);
}

/// The counter works: a failure allocates (its message), and is seen.
#[test]
fn the_counter_sees_allocations() {
    let allocations = allocations_in(|| {
        std::hint::black_box(vec![1_u8; 16]);
    });
    assert_eq!(allocations, 1);
}
