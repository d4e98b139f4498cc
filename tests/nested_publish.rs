//! A synchronous `bus.publish` inside a handler runs on the handler's
//! stack: past 128 nested deliveries on one thread it is refused with a
//! `CascadeLimit` failure, whatever `max_cascade_depth` says, so a
//! handler that re-publishes through the bus cannot overflow the stack.
//! Follow-ups through `ctx.publish` are delivered breadth-first, off the
//! handler's stack, and keep only their own limit.
//!
//! Each test runs on a thread with a 2 MiB stack, the default size of a
//! spawned thread: without the cap, the nested publishes overflow it.

use eventbus::prelude::*;
use eventbus::FailureKind;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

const STACK: usize = 2 * 1024 * 1024;

/// What an `on_error` hook saw of one failure.
type Seen = (FailureKind, &'static str, Option<&'static str>, String);

/// `(level of the handler, (kind, message) of each failure)` of each
/// report of a nested publish that failed.
type Refusals = Vec<(u32, Vec<(FailureKind, String)>)>;

/// Runs `test` on a thread with a 2 MiB stack and returns what it
/// returned; a stack overflow would abort the whole test binary instead.
fn on_small_stack<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(STACK)
        .spawn(test)
        .unwrap()
        .join()
        .expect("the test thread finished")
}

/// A bus whose `on_error` hook keeps every failure.
fn watched(builder: BusBuilder) -> (Bus, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let bus = builder
        .on_error(move |failure| {
            sink.lock().unwrap().push((
                failure.kind(),
                failure.event_name(),
                failure.handler().map(HandlerInfo::handler_name),
                failure.message().to_owned(),
            ));
        })
        .build()
        .unwrap();
    (bus, seen)
}

// --- bus.publish nested in handlers -------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "nested.deep")]
struct Deep {
    level: u32,
}

/// The level of each `Deep` handled, in call order.
static DEEP_LEVELS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

static DEEP_REFUSED: Mutex<Refusals> = Mutex::new(Vec::new());

#[subscribe]
fn dive(event: &Deep, ctx: &Context) {
    DEEP_LEVELS.lock().unwrap().push(event.level);
    let report = ctx.bus().publish(Deep {
        level: event.level + 1,
    });
    if !report.is_ok() {
        let failures = report
            .failures()
            .iter()
            .map(|failure| (failure.kind(), failure.message().to_owned()))
            .collect();
        DEEP_REFUSED.lock().unwrap().push((event.level, failures));
    }
}

const NESTED_MESSAGE: &str = "`nested.deep` was not delivered: nested publish deeper than 128: \
     use ctx.publish for follow-ups (a `bus.publish` inside a handler runs on the handler's stack)";

#[test]
fn nested_bus_publish_stops_at_128_levels_whatever_max_cascade_depth_says() {
    let (report, seen) = on_small_stack(|| {
        let (bus, seen) = watched(Bus::builder().max_cascade_depth(100_000));
        let report = bus.publish(Deep { level: 0 });
        (report, seen)
    });

    // A delivery on this thread's stack counts one level while its
    // handlers run (`DepthScope`), and `Shared::accepts` takes a publish
    // while fewer than `MAX_NESTED_PUBLISH` (128) are on the stack. The
    // root publish sees 0 and the nested publish made by the handler at
    // level `n` sees `n + 1`: the root (level 0) and the nested publishes
    // of levels 1..=127 each run the handler, 128 calls in all; the one of
    // level 128, made by the handler at level 127 (the 128th nested
    // publish, the 129th publish in all), is refused.
    let levels = DEEP_LEVELS.lock().unwrap().clone();
    assert_eq!(levels.len(), 128);
    assert_eq!(levels, (0..128).collect::<Vec<u32>>());

    // The refusal is the report of that innermost `bus.publish`, made by
    // the handler at level 127; the root's own delivery went fine.
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(
        *DEEP_REFUSED.lock().unwrap(),
        vec![(
            127,
            vec![(FailureKind::CascadeLimit, NESTED_MESSAGE.to_owned())]
        )]
    );

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            FailureKind::CascadeLimit,
            "nested.deep",
            None,
            NESTED_MESSAGE.to_owned()
        )]
    );
    assert!(seen[0]
        .3
        .contains("nested publish deeper than 128: use ctx.publish for follow-ups"));
}

// --- bus.publish_async nested in async handlers ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "nested.deep_async")]
struct DeepAsync {
    level: u32,
}

static DEEP_ASYNC_LEVELS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

static DEEP_ASYNC_REFUSED: Mutex<Refusals> = Mutex::new(Vec::new());

#[subscribe]
async fn dive_async(event: &DeepAsync, ctx: &Context) {
    DEEP_ASYNC_LEVELS.lock().unwrap().push(event.level);
    let report = ctx
        .bus()
        .publish_async(DeepAsync {
            level: event.level + 1,
        })
        .await;
    if !report.is_ok() {
        let failures = report
            .failures()
            .iter()
            .map(|failure| (failure.kind(), failure.message().to_owned()))
            .collect();
        DEEP_ASYNC_REFUSED
            .lock()
            .unwrap()
            .push((event.level, failures));
    }
}

const NESTED_ASYNC_MESSAGE: &str = "`nested.deep_async` was not delivered: nested publish deeper \
     than 128: use ctx.publish for follow-ups (a `bus.publish` inside a handler runs on the \
     handler's stack)";

#[test]
fn nested_publish_async_stops_at_128_levels_too() {
    let (report, seen) = on_small_stack(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (bus, seen) = watched(Bus::builder().max_cascade_depth(100_000));
        let report = runtime.block_on(bus.publish_async(DeepAsync { level: 0 }));
        (report, seen)
    });

    // Each level's future is polled inside its parent's poll, one delivery
    // deeper on the stack for each: the same 128 calls as with
    // `bus.publish`.
    let levels = DEEP_ASYNC_LEVELS.lock().unwrap().clone();
    assert_eq!(levels, (0..128).collect::<Vec<u32>>());
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(
        *DEEP_ASYNC_REFUSED.lock().unwrap(),
        vec![(
            127,
            vec![(FailureKind::CascadeLimit, NESTED_ASYNC_MESSAGE.to_owned())]
        )]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(
            FailureKind::CascadeLimit,
            "nested.deep_async",
            None,
            NESTED_ASYNC_MESSAGE.to_owned()
        )]
    );
}

// --- ctx.publish: breadth-first, its own limit ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "nested.chain")]
struct Chain {
    level: u32,
}

static CHAIN_CALLS: AtomicU32 = AtomicU32::new(0);
/// `(event level, ctx.depth())` of each call, in call order.
static CHAIN_DEPTHS: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

#[subscribe]
fn follow(event: &Chain, ctx: &Context) {
    CHAIN_CALLS.fetch_add(1, Ordering::SeqCst);
    CHAIN_DEPTHS
        .lock()
        .unwrap()
        .push((event.level, ctx.depth()));
    ctx.publish(Chain {
        level: event.level + 1,
    });
}

const CHAIN_MESSAGE: &str = "`nested.chain` was not delivered: the chain of events that led to \
     it went deeper than the cascade depth limit of 300 (max_cascade_depth); a handler may be \
     publishing in a loop";

#[test]
fn follow_ups_through_ctx_publish_are_not_capped_at_128() {
    let (report, seen) = on_small_stack(|| {
        let (bus, seen) = watched(Bus::builder().max_cascade_depth(300));
        let report = bus.publish(Chain { level: 0 });
        (report, seen)
    });

    // The root at depth 0 and a follow-up at each depth 1..=300; the one
    // at depth 301 is refused.
    assert_eq!(CHAIN_CALLS.load(Ordering::SeqCst), 301);
    let depths = CHAIN_DEPTHS.lock().unwrap().clone();
    assert_eq!(
        depths,
        (0..=300).map(|level| (level, level)).collect::<Vec<_>>()
    );

    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::CascadeLimit);
    assert_eq!(failure.event_name(), "nested.chain");
    assert!(failure.handler().is_none());
    assert!(failure.message().contains("cascade depth"));
    assert_eq!(failure.message(), CHAIN_MESSAGE);

    assert_eq!(
        *seen.lock().unwrap(),
        vec![(
            FailureKind::CascadeLimit,
            "nested.chain",
            None,
            CHAIN_MESSAGE.to_owned()
        )]
    );
}
