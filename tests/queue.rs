//! The background queue: `emit` and `try_emit` hand an event to a bounded
//! queue; a worker delivers it. Nothing accepted is lost: a full queue
//! makes `emit` wait and `try_emit` hand the event back, `shutdown`
//! delivers everything queued, and a shut-down bus refuses new events
//! with the event handed back.

use eventbus::prelude::*;
use eventbus::{EmitErrorKind, FailureKind};

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

// --- emit, then idle ----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Letter {
    stamps: u64,
}

static LETTERS: AtomicUsize = AtomicUsize::new(0);
static STAMPS: AtomicU64 = AtomicU64::new(0);

#[subscribe]
fn post_letter(letter: &Letter) {
    LETTERS.fetch_add(1, Ordering::SeqCst);
    STAMPS.fetch_add(letter.stamps, Ordering::SeqCst);
}

#[tokio::test]
async fn emitted_events_are_delivered_by_idle() {
    let bus = Bus::new();
    for stamps in [1, 2, 4] {
        bus.emit(Letter { stamps })
            .await
            .expect("the bus is running");
    }
    bus.try_emit(Letter { stamps: 8 })
        .expect("the queue has room");

    bus.idle().await;

    assert_eq!(LETTERS.load(Ordering::SeqCst), 4);
    assert_eq!(STAMPS.load(Ordering::SeqCst), 15);
}

// --- a full queue: try_emit hands the event back, emit waits -------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Parcel {
    id: u32,
}

static PARCELS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Notified when the worker is inside the delivery of parcel 1.
static PARCEL_STARTED: Notify = Notify::const_new();
/// Holds the worker in the delivery of parcel 1 until the test notifies it.
static PARCEL_GATE: Notify = Notify::const_new();

#[subscribe]
async fn deliver_parcel(parcel: &Parcel) {
    if parcel.id == 1 {
        PARCEL_STARTED.notify_one();
        PARCEL_GATE.notified().await;
    }
    PARCELS.lock().unwrap().push(parcel.id);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_hands_the_event_back_to_try_emit_and_makes_emit_wait() {
    let bus = Bus::builder().queue_capacity(2).build().unwrap();

    bus.try_emit(Parcel { id: 1 }).unwrap();
    PARCEL_STARTED.notified().await;
    // The worker holds parcel 1; the queue itself is empty again.
    bus.try_emit(Parcel { id: 2 }).unwrap();
    bus.try_emit(Parcel { id: 3 }).unwrap();

    let error = bus
        .try_emit(Parcel { id: 4 })
        .expect_err("two events fill the queue");
    assert_eq!(error.kind(), EmitErrorKind::Full);
    assert_eq!(
        error.to_string(),
        "the bus's queue is full; `queue::Parcel` was handed back: retry later, \
         `emit(..).await` to wait for room, or raise `queue_capacity`"
    );
    assert_eq!(
        format!("{error:?}"),
        "EmitError { kind: Full, event: \"queue::Parcel\" }"
    );
    let parcel = error.into_inner();
    assert_eq!(parcel.id, 4);

    let waiting = tokio::spawn({
        let bus = bus.clone();
        async move { bus.emit(parcel).await }
    });
    // With the clock paused, this returns once every task is stuck: the
    // emit above waits for room for as long as the worker is held.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!waiting.is_finished());
    assert!(PARCELS.lock().unwrap().is_empty());

    PARCEL_GATE.notify_one();
    bus.idle().await;

    assert!(waiting.await.unwrap().is_ok());
    assert_eq!(*PARCELS.lock().unwrap(), vec![1, 2, 3, 4]);
}

// --- shutdown delivers everything accepted -------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Tick {
    emitter: usize,
}

static TICKS: AtomicUsize = AtomicUsize::new(0);
static TICKS_PER_EMITTER: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

#[subscribe]
fn count_tick(tick: &Tick) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    TICKS_PER_EMITTER[tick.emitter].fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_ten_thousand_events_from_eight_emitters() {
    let bus = Bus::builder().queue_capacity(64).build().unwrap();

    let emitters: Vec<_> = (0..8)
        .map(|emitter| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for _ in 0..1_250 {
                    bus.emit(Tick { emitter })
                        .await
                        .expect("the bus is running");
                }
            })
        })
        .collect();
    for emitter in emitters {
        emitter.await.unwrap();
    }
    bus.shutdown().await;

    assert_eq!(TICKS.load(Ordering::SeqCst), 10_000);
    for per_emitter in &TICKS_PER_EMITTER {
        assert_eq!(per_emitter.load(Ordering::SeqCst), 1_250);
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Tock;

static TOCKS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn count_tock(_: &Tock) {
    TOCKS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_emits_delivers_every_accepted_event_and_hands_back_the_rest() {
    let bus = Bus::builder().queue_capacity(16).build().unwrap();

    let emitters: Vec<_> = (0..8)
        .map(|_| {
            let bus = bus.clone();
            tokio::spawn(async move {
                let (mut accepted, mut handed_back) = (0_usize, 0_usize);
                for _ in 0..1_250 {
                    match bus.emit(Tock).await {
                        Ok(()) => accepted += 1,
                        Err(error) => {
                            assert_eq!(error.kind(), EmitErrorKind::ShutDown);
                            handed_back += 1;
                        }
                    }
                }
                (accepted, handed_back)
            })
        })
        .collect();
    // Let the emitters get going, then shut down under them.
    while TOCKS.load(Ordering::SeqCst) < 100 {
        tokio::task::yield_now().await;
    }
    bus.shutdown().await;
    let delivered_at_shutdown = TOCKS.load(Ordering::SeqCst);

    let (mut accepted, mut handed_back) = (0, 0);
    for emitter in emitters {
        let (ok, back) = emitter.await.unwrap();
        accepted += ok;
        handed_back += back;
    }
    assert_eq!(accepted + handed_back, 10_000);
    // Everything accepted was delivered, and by the time shutdown returned.
    assert_eq!(delivered_at_shutdown, accepted);
    assert_eq!(TOCKS.load(Ordering::SeqCst), accepted);
}

// --- a shut-down bus -----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Closing {
    n: u32,
}

static CLOSING: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_closing(_: &Closing) {
    CLOSING.fetch_add(1, Ordering::SeqCst);
}

const SHUT_DOWN_MESSAGE: &str = "`Closing` was not delivered: the bus is shut down";

fn assert_refused(report: &Report) {
    assert_eq!(report.handled(), 0);
    assert_eq!(report.scheduled(), 0);
    assert!(!report.is_ok());
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::ShutDown);
    assert_eq!(failure.kind().to_string(), "found the bus shut down");
    assert!(failure.handler().is_none());
    assert_eq!(failure.event_name(), "Closing");
    assert_eq!(failure.attempts(), 0);
    assert_eq!(failure.message(), SHUT_DOWN_MESSAGE);
    assert_eq!(
        failure.to_string(),
        format!("delivery of Closing failed: {SHUT_DOWN_MESSAGE}")
    );
}

#[tokio::test]
async fn a_shut_down_bus_delivers_nothing_and_hands_events_back() {
    let bus = Bus::new();
    let clone = bus.clone();
    bus.emit(Closing { n: 1 }).await.unwrap();
    bus.shutdown().await;
    assert_eq!(CLOSING.load(Ordering::SeqCst), 1);

    assert_refused(&bus.publish(Closing { n: 2 }));
    assert_refused(&bus.publish_async(Closing { n: 3 }).await);
    // Clones share the shut-down state.
    assert_refused(&clone.publish(Closing { n: 4 }));

    let error = bus
        .emit(Closing { n: 5 })
        .await
        .expect_err("the bus is shut down");
    assert_eq!(error.kind(), EmitErrorKind::ShutDown);
    assert_eq!(
        error.to_string(),
        "the bus is shut down; `queue::Closing` was handed back"
    );
    assert_eq!(error.into_inner().n, 5);

    let error = clone
        .try_emit(Closing { n: 6 })
        .expect_err("the bus is shut down");
    assert_eq!(error.kind(), EmitErrorKind::ShutDown);
    assert_eq!(error.into_inner().n, 6);

    bus.idle().await;
    assert_eq!(CLOSING.load(Ordering::SeqCst), 1);
}

// --- order of delivery ------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Numbered {
    emitter: usize,
    n: u32,
}

static NUMBERED: Mutex<Vec<(usize, u32)>> = Mutex::new(Vec::new());

#[subscribe]
fn record_numbered(numbered: &Numbered) {
    NUMBERED
        .lock()
        .unwrap()
        .push((numbered.emitter, numbered.n));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_emitted_from_one_task_are_delivered_in_emission_order() {
    let bus = Bus::builder().queue_capacity(8).build().unwrap();

    let emitters: Vec<_> = (0..3)
        .map(|emitter| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0..500 {
                    bus.emit(Numbered { emitter, n }).await.unwrap();
                }
            })
        })
        .collect();
    for emitter in emitters {
        emitter.await.unwrap();
    }
    bus.idle().await;

    let delivered = NUMBERED.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1_500);
    for emitter in 0..3 {
        let own: Vec<u32> = delivered
            .iter()
            .filter(|(from, _)| *from == emitter)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(own, (0..500).collect::<Vec<u32>>(), "emitter {emitter}");
    }
}

// --- failures of queued deliveries ------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Faulty {
    n: u32,
}

static FAULTY_SYNC: AtomicUsize = AtomicUsize::new(0);
static FAULTY_ASYNC: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn faulty_sync(faulty: &Faulty) -> Result<(), String> {
    FAULTY_SYNC.fetch_add(1, Ordering::SeqCst);
    match faulty.n % 3 {
        0 => Ok(()),
        1 => Err(format!("event {} is odd", faulty.n)),
        _ => panic!("event {} is broken", faulty.n),
    }
}

#[subscribe]
async fn faulty_async(faulty: &Faulty) -> Result<(), String> {
    tokio::task::yield_now().await;
    FAULTY_ASYNC.fetch_add(1, Ordering::SeqCst);
    match faulty.n % 2 {
        0 => Ok(()),
        _ => panic!("async event {} is broken", faulty.n),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_queued_deliveries_leave_the_bus_working() {
    let bus = Bus::builder().queue_capacity(4).build().unwrap();

    for n in 0..12 {
        bus.emit(Faulty { n }).await.unwrap();
    }
    bus.idle().await;
    assert_eq!(FAULTY_SYNC.load(Ordering::SeqCst), 12);
    assert_eq!(FAULTY_ASYNC.load(Ordering::SeqCst), 12);

    for n in 12..24 {
        bus.emit(Faulty { n }).await.unwrap();
    }
    bus.idle().await;
    assert_eq!(FAULTY_SYNC.load(Ordering::SeqCst), 24);
    assert_eq!(FAULTY_ASYNC.load(Ordering::SeqCst), 24);

    let report = bus.publish_async(Faulty { n: 24 }).await;
    assert_eq!(report.handled(), 2);
    assert!(report.is_ok());

    bus.shutdown().await;
    assert_eq!(FAULTY_SYNC.load(Ordering::SeqCst), 25);
    assert_eq!(FAULTY_ASYNC.load(Ordering::SeqCst), 25);
}

// --- without a runtime -------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stray {
    n: u32,
}

static STRAYS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_stray(_: &Stray) {
    STRAYS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn try_emit_outside_a_runtime_hands_the_event_back_or_uses_the_given_runtime() {
    let error = Bus::new()
        .try_emit(Stray { n: 1 })
        .expect_err("no runtime, no worker");
    assert_eq!(error.kind(), EmitErrorKind::NoRuntime);
    assert_eq!(
        error.to_string(),
        "no tokio runtime runs this thread and none was given with `BusBuilder::runtime`; \
         `queue::Stray` was handed back"
    );
    assert_eq!(error.into_inner().n, 1);
    assert_eq!(STRAYS.load(Ordering::SeqCst), 0);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::builder()
        .runtime(runtime.handle().clone())
        .build()
        .unwrap();
    bus.try_emit(Stray { n: 2 }).unwrap();
    bus.try_emit(Stray { n: 3 }).unwrap();
    runtime.block_on(bus.shutdown());
    assert_eq!(STRAYS.load(Ordering::SeqCst), 2);
}

// --- follow-ups of queued events ---------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Drain {
    n: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Drained {
    n: u32,
}

static DRAINED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn drain(drain: &Drain, ctx: &Context) {
    ctx.publish(Drained { n: drain.n });
}

#[subscribe]
fn drained(drained: &Drained) {
    DRAINED.lock().unwrap().push(drained.n);
}

#[tokio::test]
async fn follow_ups_of_queued_events_are_delivered_during_the_drain() {
    let bus = Bus::new();
    for n in 0..5 {
        bus.emit(Drain { n }).await.unwrap();
    }
    // A current-thread runtime: the worker has not run yet, so all five
    // are delivered, with their follow-ups, by the drain.
    assert!(DRAINED.lock().unwrap().is_empty());

    bus.shutdown().await;

    assert_eq!(*DRAINED.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

// --- the depth limit holds for events emitted by handlers ---------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Ripple;

/// The depth of each call; the handler stops by itself after 20 calls,
/// so a bus that does not stop it still lets the test end.
static RIPPLE_DEPTHS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn ripple(_: &Ripple, ctx: &Context) {
    let calls = {
        let mut depths = RIPPLE_DEPTHS.lock().unwrap();
        depths.push(ctx.depth());
        depths.len()
    };
    if calls < 20 {
        ctx.bus().try_emit(Ripple).expect("the queue has room");
    }
}

#[tokio::test]
async fn an_emit_storm_stops_at_max_cascade_depth() {
    let bus = Bus::builder().max_cascade_depth(3).build().unwrap();

    bus.emit(Ripple).await.unwrap();
    bus.idle().await;

    // As with `bus.publish` inside a handler: depths 0 to 3 are delivered,
    // the next one is stopped.
    assert_eq!(*RIPPLE_DEPTHS.lock().unwrap(), vec![0, 1, 2, 3]);
}

// --- one bus, used from one runtime after another --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Relay {
    leg: u32,
}

static RELAY_LEGS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn run_leg(relay: &Relay) {
    RELAY_LEGS.lock().unwrap().push(relay.leg);
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn a_bus_keeps_delivering_its_queue_after_the_runtime_of_its_worker_is_gone() {
    // A bus kept in a static and used by one `#[tokio::test]` after
    // another lives through several runtimes in this way.
    let bus = Bus::new();

    let first = paused_runtime();
    first.block_on(async {
        bus.emit(Relay { leg: 1 }).await.unwrap();
        bus.idle().await;
    });
    drop(first);
    assert_eq!(*RELAY_LEGS.lock().unwrap(), vec![1]);

    let second = paused_runtime();
    let idle = second.block_on(async {
        bus.emit(Relay { leg: 2 }).await.unwrap();
        // The clock is paused: this times out only if nothing can run.
        tokio::time::timeout(Duration::from_secs(60), bus.idle()).await
    });
    assert!(idle.is_ok(), "the queue was never delivered");
    assert_eq!(*RELAY_LEGS.lock().unwrap(), vec![1, 2]);
}

// --- events of several types keep one order ----------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Apple {
    n: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Pear {
    n: u32,
}

static FRUIT: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Notified when the worker is inside the delivery of apple 0.
static APPLE_STARTED: Notify = Notify::const_new();

#[subscribe]
async fn eat_apple(apple: &Apple) {
    if apple.n == 0 {
        // Never finishes: the worker stays inside this delivery until its
        // runtime goes away.
        APPLE_STARTED.notify_one();
        std::future::pending::<()>().await;
    }
    FRUIT.lock().unwrap().push(format!("apple {}", apple.n));
}

#[subscribe]
fn eat_pear(pear: &Pear) {
    FRUIT.lock().unwrap().push(format!("pear {}", pear.n));
}

async fn emit_fruit(bus: &Bus, from: u32, to: u32) {
    for n in from..to {
        if n % 2 == 0 {
            bus.emit(Apple { n }).await.unwrap();
        } else {
            bus.emit(Pear { n }).await.unwrap();
        }
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn events_of_several_types_keep_their_order_also_when_the_worker_stops() {
    let bus = Bus::new();
    let first = current_thread();
    first.block_on(async {
        emit_fruit(&bus, 0, 6).await;
        // The worker holds apple 0; pears 1, 3, 5 and apples 2, 4 wait.
        APPLE_STARTED.notified().await;
    });
    // Dropping the runtime drops the worker in the middle of its batch:
    // what it had not started goes back to the front of the queue.
    drop(first);
    assert!(FRUIT.lock().unwrap().is_empty());

    let second = current_thread();
    second.block_on(async {
        emit_fruit(&bus, 7, 9).await;
        bus.shutdown().await;
    });
    assert_eq!(
        *FRUIT.lock().unwrap(),
        ["pear 1", "apple 2", "pear 3", "apple 4", "pear 5", "pear 7", "apple 8"]
    );
}

// --- a cancelled emit does not keep the queue busy ------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Memo(u32);

static MEMOS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn file_memo(memo: &Memo) {
    MEMOS.lock().unwrap().push(memo.0);
}

#[tokio::test]
async fn an_emit_cancelled_while_waiting_for_room_lets_shutdown_finish() {
    use futures::FutureExt;

    let bus = Bus::builder().queue_capacity(1).build().unwrap();
    bus.try_emit(Memo(1)).expect("the queue has room");
    // The worker has not run yet on this single-threaded runtime: the
    // queue stays full, so this emit waits for room, and is then dropped.
    assert!(bus.emit(Memo(2)).now_or_never().is_none());

    tokio::time::timeout(Duration::from_secs(10), bus.shutdown())
        .await
        .expect("shutdown does not wait for a cancelled emit");
    bus.idle().await;

    assert_eq!(*MEMOS.lock().unwrap(), vec![1]);
}
