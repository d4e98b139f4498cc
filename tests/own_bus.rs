//! A handler that waits for its own bus: `ctx.bus().idle()` and
//! `ctx.bus().shutdown()` called by a handler do not wait for that
//! handler, and `emit` from a handler the queue's worker runs does not
//! wait for room that only that worker could make.
//!
//! The tests run on a paused clock and wrap every wait in a timeout: once
//! every task is stuck the clock jumps ahead, so a hang fails at once.

use eventbus::prelude::*;
use eventbus::{EmitError, EmitErrorKind};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Long enough for anything that is not stuck: how long a handler waits
/// for its own bus.
const PATIENCE: Duration = Duration::from_secs(10);

/// How long the test waits for the bus: longer than [`PATIENCE`], so that
/// a handler that gave up still lets the test see what it logged.
const TEST_PATIENCE: Duration = Duration::from_secs(60);

// --- a spawned handler waits for its own bus ---------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Waiter;

static WAITER_PAST_IDLE: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
async fn wait_for_own_bus(_: &Waiter, ctx: &Context) {
    ctx.bus().idle().await;
    WAITER_PAST_IDLE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn a_spawned_handler_awaiting_idle_does_not_wait_for_itself() {
    let bus = Bus::new();

    let report = bus.publish(Waiter);
    assert_eq!(report.scheduled(), 1);
    assert!(report.is_ok(), "{report:?}");

    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("the handler's own idle waited for itself");
    assert_eq!(WAITER_PAST_IDLE.load(Ordering::SeqCst), 1);
}

// --- a queued handler waits for its own bus --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Queued {
    n: u32,
}

static QUEUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log_queued(line: String) {
    QUEUED.lock().unwrap().push(line);
}

#[subscribe]
async fn deliver_queued(queued: &Queued, ctx: &Context) {
    if queued.n == 0 {
        log_queued("0 waits for idle".to_owned());
        let idle = tokio::time::timeout(PATIENCE, ctx.bus().idle()).await;
        log_queued(format!(
            "0 past idle: {}",
            if idle.is_ok() { "ok" } else { "timed out" }
        ));
    } else {
        log_queued(queued.n.to_string());
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_handler_awaiting_idle_does_not_wait_for_the_events_behind_it() {
    let bus = Bus::new();
    for n in 0..4 {
        bus.emit(Queued { n }).await.expect("the bus is running");
    }

    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("the queue was never delivered");

    // Event 0's idle returned before 1, 2 and 3, queued behind it, were
    // delivered; they were delivered after.
    assert_eq!(
        *QUEUED.lock().unwrap(),
        ["0 waits for idle", "0 past idle: ok", "1", "2", "3"]
    );
}

// --- ... but it waits for the other work in flight ---------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Errand {
    n: u32,
}

/// Published by errand 0: a spawned handler, other work in flight.
#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct SideErrand;

static ERRANDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log_errand(line: &str) {
    ERRANDS.lock().unwrap().push(line.to_owned());
}

#[subscribe]
async fn run_errand(errand: &Errand, ctx: &Context) {
    if errand.n == 0 {
        let report = ctx.bus().publish(SideErrand);
        assert_eq!(report.scheduled(), 1);
        log_errand("0 waits for idle");
        let idle = tokio::time::timeout(PATIENCE, ctx.bus().idle()).await;
        log_errand(if idle.is_ok() {
            "0 past idle"
        } else {
            "0 timed out"
        });
    } else {
        log_errand(&errand.n.to_string());
    }
}

#[subscribe]
async fn run_side_errand(_: &SideErrand) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    log_errand("side errand done");
}

#[tokio::test(start_paused = true)]
async fn a_queued_handler_awaiting_idle_still_waits_for_spawned_handlers() {
    let bus = Bus::new();
    for n in 0..3 {
        bus.emit(Errand { n }).await.expect("the bus is running");
    }

    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("the queue was never delivered");

    assert_eq!(
        *ERRANDS.lock().unwrap(),
        [
            "0 waits for idle",
            "side errand done",
            "0 past idle",
            "1",
            "2"
        ]
    );
}

// --- a queued handler shuts its own bus down --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Closer {
    n: u32,
}

static CLOSERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log_closer(line: String) {
    CLOSERS.lock().unwrap().push(line);
}

#[subscribe]
async fn deliver_closer(closer: &Closer, ctx: &Context) {
    if closer.n != 0 {
        log_closer(closer.n.to_string());
        return;
    }
    log_closer("0 shuts the bus down".to_owned());
    if tokio::time::timeout(PATIENCE, ctx.bus().shutdown())
        .await
        .is_err()
    {
        log_closer("0 timed out in shutdown".to_owned());
        return;
    }
    match ctx.bus().try_emit(Closer { n: 99 }) {
        Ok(()) => log_closer("0: try_emit accepted 99".to_owned()),
        Err(error) => log_closer(format!(
            "0: try_emit {:?}, handed back {}",
            error.kind(),
            error.into_inner().n
        )),
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_handler_calling_shutdown_does_not_wait_for_itself() {
    let bus = Bus::new();
    for n in 0..4 {
        bus.emit(Closer { n }).await.expect("the bus is running");
    }

    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("the queue was never delivered");

    // The events queued behind the caller were delivered all the same.
    assert_eq!(
        *CLOSERS.lock().unwrap(),
        [
            "0 shuts the bus down",
            "0: try_emit ShutDown, handed back 99",
            "1",
            "2",
            "3"
        ]
    );
    let error = bus
        .try_emit(Closer { n: 100 })
        .expect_err("the bus is shut down");
    assert_eq!(error.kind(), EmitErrorKind::ShutDown);
    assert_eq!(error.into_inner().n, 100);
    tokio::time::timeout(TEST_PATIENCE, bus.shutdown())
        .await
        .expect("a shut-down bus with nothing in flight shuts down at once");
    assert_eq!(CLOSERS.lock().unwrap().len(), 5);
}

// --- a queued handler emits into a full queue -------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Refill {
    n: u32,
}

static REFILLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log_refill(line: String) {
    REFILLS.lock().unwrap().push(line);
}

fn outcome(result: Result<Result<(), EmitError<Refill>>, tokio::time::error::Elapsed>) -> String {
    match result {
        Ok(Ok(())) => "queued".to_owned(),
        Ok(Err(error)) => format!("{:?}, handed back {}", error.kind(), error.into_inner().n),
        Err(_) => "timed out".to_owned(),
    }
}

#[subscribe]
async fn deliver_refill(refill: &Refill, ctx: &Context) {
    if refill.n != 0 {
        log_refill(refill.n.to_string());
        return;
    }
    // The worker took event 0, so the queue (capacity 1) is empty: the
    // first emit fills it, the second finds it full.
    let first = tokio::time::timeout(PATIENCE, ctx.bus().emit(Refill { n: 1 })).await;
    log_refill(format!("0: emit 1: {}", outcome(first)));
    let second = tokio::time::timeout(PATIENCE, ctx.bus().emit(Refill { n: 2 })).await;
    log_refill(format!("0: emit 2: {}", outcome(second)));
}

#[tokio::test(start_paused = true)]
async fn emit_from_a_queued_handler_into_a_full_queue_hands_the_event_back() {
    let bus = Bus::builder().queue_capacity(1).build().unwrap();
    bus.try_emit(Refill { n: 0 }).expect("the queue has room");

    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("the queue was never delivered");

    assert_eq!(
        *REFILLS.lock().unwrap(),
        ["0: emit 1: queued", "0: emit 2: Full, handed back 2", "1"]
    );
}

// --- idle from outside waits for everything ------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Nap;

static NAPS_DONE: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
async fn take_nap(_: &Nap) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    NAPS_DONE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn idle_from_outside_waits_for_spawned_and_queued_handlers() {
    let bus = Bus::new();

    let report = bus.publish(Nap);
    assert_eq!(report.scheduled(), 1);
    bus.emit(Nap).await.expect("the bus is running");
    assert_eq!(NAPS_DONE.load(Ordering::SeqCst), 0);

    bus.idle().await;

    assert_eq!(NAPS_DONE.load(Ordering::SeqCst), 2);
}

// --- several handlers waiting at once release one another ------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Pair {
    n: u32,
}

static PAIR_PAST_IDLE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
async fn wait_in_pairs(pair: &Pair, ctx: &Context) {
    tokio::time::timeout(PATIENCE, ctx.bus().idle())
        .await
        .expect("two handlers waiting on their bus waited for each other");
    PAIR_PAST_IDLE.lock().unwrap().push(pair.n);
}

#[tokio::test(start_paused = true)]
async fn two_spawned_handlers_awaiting_idle_release_each_other() {
    let bus = Bus::new();
    assert_eq!(bus.publish(Pair { n: 1 }).scheduled(), 1);
    assert_eq!(bus.publish(Pair { n: 2 }).scheduled(), 1);
    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("idle from outside returns once both handlers are done");
    let mut past = PAIR_PAST_IDLE.lock().unwrap().clone();
    past.sort_unstable();
    assert_eq!(past, [1, 2]);
}

// --- a blocking handler waits for its own bus ---------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Chunk;

static CHUNK_PAST_IDLE: AtomicUsize = AtomicUsize::new(0);

#[subscribe(mode = "blocking")]
fn crunch(_: &Chunk, ctx: &Context) {
    // A blocking handler is part of the work that awaits it: its `idle`
    // does not count it, nor that work, as something to wait for.
    let bus = ctx.bus().clone();
    tokio::runtime::Handle::current().block_on(async move {
        tokio::time::timeout(PATIENCE, bus.idle())
            .await
            .expect("a blocking handler's idle waited for itself");
    });
    CHUNK_PAST_IDLE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_handler_awaiting_idle_does_not_wait_for_itself() {
    let bus = Bus::new();
    let report = tokio::time::timeout(TEST_PATIENCE, bus.publish_async(Chunk))
        .await
        .expect("publish_async of a blocking handler that waits on its bus returned");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.handled(), 1);
    bus.emit(Chunk).await.unwrap();
    tokio::time::timeout(TEST_PATIENCE, bus.shutdown())
        .await
        .expect("shutdown returned");
    assert_eq!(CHUNK_PAST_IDLE.load(Ordering::SeqCst), 2);
}

// --- a spawned handler waiting for room while the worker's handler waits in idle -----

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stall {
    n: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Spill {
    n: u32,
}

static STALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Queued: waits for its bus while a spawned handler waits for room.
#[subscribe]
async fn stall(stall: &Stall, ctx: &Context) {
    if stall.n == 0 {
        // The spawned `spill` runs meanwhile and fills the queue.
        let _ = ctx.bus().publish(Spill { n: 0 });
        tokio::time::timeout(PATIENCE, ctx.bus().idle())
            .await
            .expect("the worker's handler waited for a handler that waits for room");
    }
    STALLS.lock().unwrap().push(format!("stall {}", stall.n));
}

/// Spawned: emits into a full queue, so it waits for room that only the
/// worker (busy in `stall 0`) can make.
#[subscribe]
async fn spill(spill: &Spill, ctx: &Context) {
    for n in 1..=2 {
        tokio::time::timeout(PATIENCE, ctx.bus().emit(Stall { n }))
            .await
            .expect("emit for room waited forever")
            .unwrap();
    }
    STALLS.lock().unwrap().push(format!("spill {}", spill.n));
}

#[tokio::test(start_paused = true)]
async fn a_handler_waiting_for_room_and_one_waiting_in_idle_release_each_other() {
    let bus = Bus::builder().queue_capacity(1).build().unwrap();
    bus.emit(Stall { n: 0 }).await.unwrap();
    tokio::time::timeout(TEST_PATIENCE, bus.idle())
        .await
        .expect("idle returned");
    assert_eq!(
        *STALLS.lock().unwrap(),
        ["stall 0", "stall 1", "spill 0", "stall 2"]
    );
}
