//! `publish` to sync handlers allocates nothing on the success path, and
//! `publish_async` to plain async handlers allocates a known few: counts,
//! so tests, with a global allocator that counts.

// The counting allocator below is the one `unsafe` in the project: a
// `GlobalAlloc` impl must be `unsafe`; it only counts and forwards to the
// system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;

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

/// Every bus of these tests: the `AsyncStated` handler needs its state.
fn bus() -> Bus {
    Bus::builder().state(Step(1)).build().unwrap()
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
    let bus = bus();
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
    let bus = bus();
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
        .state(Step(0))
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

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "zero_alloc.async_one")]
struct AsyncOne(u64);

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "zero_alloc.async_ten")]
struct AsyncTen(u64);

#[subscribe]
async fn async_one(event: &AsyncOne) {
    std::hint::black_box(event.0);
}

macro_rules! async_ten {
    ($($name:ident)*) => {$(
        #[subscribe]
        async fn $name(event: &AsyncTen) {
            std::hint::black_box(event.0);
        }
    )*};
}
async_ten!(a0 a1 a2 a3 a4 a5 a6 a7 a8 a9);

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "zero_alloc.async_stated")]
struct AsyncStated(u64);

/// The state the `AsyncStated` handler takes.
struct Step(u64);

#[subscribe]
async fn async_stated(event: &AsyncStated, step: State<Step>) {
    std::hint::black_box(event.0 + step.0);
}

/// Allocations of one `publish_async(event)`, polled to the end with no
/// executor (the handlers never wait), so only the bus's own count.
fn allocations_of_publish_async<E: Event>(bus: &Bus, event: E, handlers: usize) -> usize {
    allocations_in(|| {
        let publishing = std::pin::pin!(bus.publish_async(event));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match publishing.poll(&mut context) {
            std::task::Poll::Ready(report) => assert_eq!(report.handled(), handlers),
            std::task::Poll::Pending => panic!("handlers that never wait finish at once"),
        }
    })
}

/// `publish_async` to plain async handlers allocates the one `Vec` the
/// handlers' futures run in and one box per future, which borrows the
/// event: 2 for one handler, 11 for ten; the event is not shared through
/// an `Arc`, and the report allocates nothing.
#[test]
fn publish_async_allocates_the_slots_and_one_box_per_handler() {
    let bus = bus();
    let _ = allocations_of_publish_async(&bus, AsyncOne(0), 1);
    let _ = allocations_of_publish_async(&bus, AsyncTen(0), 10);
    let one: Vec<usize> = (0..100)
        .map(|n| allocations_of_publish_async(&bus, AsyncOne(n), 1))
        .collect();
    let ten: Vec<usize> = (0..100)
        .map(|n| allocations_of_publish_async(&bus, AsyncTen(n), 10))
        .collect();
    assert_eq!(one, vec![2; 100]);
    assert_eq!(ten, vec![11; 100]);
}

/// A handler that takes only `State` is as plain: its state is found when
/// the bus is built, not per publish.
#[test]
fn publish_async_to_a_handler_taking_state_allocates_the_same() {
    let bus = bus();
    let _ = allocations_of_publish_async(&bus, AsyncStated(0), 1);
    let counts: Vec<usize> = (0..100)
        .map(|n| allocations_of_publish_async(&bus, AsyncStated(n), 1))
        .collect();
    assert_eq!(counts, vec![2; 100]);
}

/// The counter works: a failure allocates (its message), and is seen.
#[test]
fn the_counter_sees_allocations() {
    let allocations = allocations_in(|| {
        std::hint::black_box(vec![1_u8; 16]);
    });
    assert_eq!(allocations, 1);
}
