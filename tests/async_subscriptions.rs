//! Async run-time subscriptions (`Bus::subscribe_async`), named
//! subscriptions, and how unsubscribing waits (or does not wait) for the
//! calls in flight.
//!
//! `publish_async` awaits async subscriptions together with the link-time
//! async handlers; `publish` inside a runtime spawns them. `unsubscribe()`
//! waits for the calls in flight; dropping a `Subscription` inside a
//! runtime never blocks the runtime's thread, and outside one it waits for
//! the calls on other threads.

use eventbus::prelude::*;
use eventbus::{FailureKind, HandlerKind};

use futures::FutureExt;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// A bound for waits that only a hang would reach.
const GENEROUS: Duration = Duration::from_secs(30);

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

// --- a: awaited concurrently with the link-time async handlers ---------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.sleepy")]
struct Sleepy;

static SLEEPY_DONE: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe]
async fn sleepy_link_time(_: &Sleepy) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    SLEEPY_DONE.lock().unwrap().push("link 1 s");
}

#[tokio::test(start_paused = true)]
async fn publish_async_awaits_async_subscriptions_concurrently() {
    let bus = Bus::new();
    let one_second = bus.subscribe_async(|_: Arc<Sleepy>| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        SLEEPY_DONE.lock().unwrap().push("sub 1 s");
    });
    let half_second = bus.subscribe_async(|_: Arc<Sleepy>| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        SLEEPY_DONE.lock().unwrap().push("sub 0.5 s");
    });

    let start = tokio::time::Instant::now();
    let report = bus.publish_async(Sleepy).await;
    let elapsed = start.elapsed();

    // 2.5 s of sleeping in about 1 s: they ran together.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(report.handled(), 3);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    let mut done = SLEEPY_DONE.lock().unwrap().clone();
    // The 0.5 s call ends first; the two 1 s calls end at the same instant.
    assert_eq!(done[0], "sub 0.5 s");
    done.sort_unstable();
    assert_eq!(done, vec!["link 1 s", "sub 0.5 s", "sub 1 s"]);

    one_second.unsubscribe().await;
    half_second.unsubscribe().await;
}

// --- b: publish spawns them ----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.spawned")]
struct Spawned {
    n: usize,
}

#[tokio::test]
async fn publish_inside_a_runtime_spawns_an_async_subscription() {
    let bus = Bus::new();
    let sum = counter();
    let calls = counter();
    let subscription = {
        let (sum, calls) = (Arc::clone(&sum), Arc::clone(&calls));
        bus.subscribe_async(move |event: Arc<Spawned>| {
            let (sum, calls) = (Arc::clone(&sum), Arc::clone(&calls));
            async move {
                tokio::task::yield_now().await;
                calls.fetch_add(1, Ordering::SeqCst);
                sum.fetch_add(event.n, Ordering::SeqCst);
            }
        })
    };

    let report = bus.publish(Spawned { n: 7 });
    assert_eq!(report.scheduled(), 1);
    assert_eq!(report.handled(), 0);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    // A current-thread runtime: the spawned call has not run yet.
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    bus.idle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(sum.load(Ordering::SeqCst), 7);

    // Nothing in flight: unsubscribing is done on its first poll.
    assert!(subscription.unsubscribe().now_or_never().is_some());
    let report = bus.publish(Spawned { n: 1 });
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_dead());
    bus.idle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.offline")]
struct Offline;

/// Wakes a thread parked in [`block_on`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor, with no tokio runtime around the future.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[test]
fn outside_a_runtime_publish_reports_an_async_subscription_it_could_not_start() {
    let bus = Bus::new();
    let calls = counter();
    let subscription = {
        let calls = Arc::clone(&calls);
        bus.subscribe_async_named("offline_sync", move |_: Arc<Offline>| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(())
        })
    };

    let report = bus.publish(Offline);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 0);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::NoRuntime);
    assert!(failure.handler().is_none());
    assert_eq!(
        failure.message(),
        "the inline async handler offline_sync was not run: no tokio runtime is running on this \
         thread and none was given with `BusBuilder::runtime`; publish from inside a runtime, or \
         give the bus one"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Awaited, it needs no runtime: any executor runs it.
    let report = block_on(bus.publish_async(Offline));
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(subscription);
}

// --- c: failures of async subscriptions, and their names -----------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.uploaded")]
struct Uploaded {
    bytes: u64,
}

#[tokio::test]
async fn a_failing_named_async_subscription_is_reported_under_its_name() {
    let bus = Bus::new();
    let line = line!() + 1;
    let scanner = bus.subscribe_async_named("scanner", |upload: Arc<Uploaded>| async move {
        tokio::task::yield_now().await;
        if upload.bytes > 1 << 20 {
            return Err(format!("{} bytes is too large to scan", upload.bytes));
        }
        Ok(())
    });

    let report = bus.publish_async(Uploaded { bytes: 4 << 20 }).await;
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 0);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.message(), "4194304 bytes is too large to scan");
    assert_eq!(failure.event_name(), "async_subs.uploaded");
    assert_eq!(failure.event_id(), report.event_id());
    assert_eq!(failure.attempts(), 1);
    let handler = failure.handler().expect("the failure names its handler");
    assert_eq!(handler.handler_name(), "scanner");
    assert_eq!(handler.kind(), HandlerKind::Async);
    assert_eq!(handler.event_name(), "async_subs.uploaded");
    assert_eq!(
        handler.location().to_string(),
        format!("tests/async_subscriptions.rs:{line}")
    );
    assert_eq!(handler, scanner.info());
    assert_eq!(
        failure.to_string(),
        "handler scanner returned an error on async_subs.uploaded: \
         4194304 bytes is too large to scan"
    );

    // A small upload passes.
    let report = bus.publish_async(Uploaded { bytes: 10 }).await;
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());

    let listed: Vec<(&str, &str, HandlerKind)> = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "async_subs.uploaded")
        .map(|info| (info.event_name(), info.handler_name(), info.kind()))
        .collect();
    assert_eq!(
        listed,
        vec![("async_subs.uploaded", "scanner", HandlerKind::Async)]
    );

    scanner.unsubscribe().await;
    assert!(bus
        .handlers()
        .iter()
        .all(|info| info.event_name() != "async_subs.uploaded"));
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.exploded")]
struct Exploded {
    id: u32,
}

#[tokio::test]
async fn a_panicking_async_subscription_is_a_panic_failure() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bus = {
        let seen = Arc::clone(&seen);
        Bus::builder()
            .on_error(move |failure| {
                seen.lock()
                    .unwrap()
                    .push((failure.kind(), failure.message().to_owned()));
            })
            .build()
            .unwrap()
    };
    let calls = counter();
    let after = counter();
    let exploding = {
        let calls = Arc::clone(&calls);
        bus.subscribe_async_named("exploding", move |event: Arc<Exploded>| {
            let calls = Arc::clone(&calls);
            async move {
                tokio::task::yield_now().await;
                calls.fetch_add(1, Ordering::SeqCst);
                // Panics with "exploded on {id}" for every id but 0.
                assert!(event.id == 0, "exploded on {}", event.id);
            }
        })
    };
    let survivor = {
        let after = Arc::clone(&after);
        bus.subscribe(move |_: &Exploded| {
            after.fetch_add(1, Ordering::SeqCst);
        })
    };

    // Awaited: the panic is a failure in the report.
    let report = bus.publish_async(Exploded { id: 1 }).await;
    assert_eq!(report.handled(), 2);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(failure.message(), "exploded on 1");
    assert_eq!(failure.handler().unwrap().handler_name(), "exploding");

    // Spawned: the panic reaches the hook; the runtime goes on.
    let report = bus.publish(Exploded { id: 2 });
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 1);
    assert!(report.is_ok());
    bus.idle().await;

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(after.load(Ordering::SeqCst), 2);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (FailureKind::Panic, "exploded on 1".to_owned()),
            (FailureKind::Panic, "exploded on 2".to_owned()),
        ]
    );

    // Still subscribed after panicking.
    let report = bus.publish_async(Exploded { id: 0 }).await;
    assert_eq!(report.handled(), 2);
    assert!(report.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    exploding.unsubscribe().await;
    drop(survivor);
}

// --- d: a named sync subscription -------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.audited")]
struct Audited {
    user: String,
}

#[test]
fn a_named_sync_subscription_is_reported_and_listed_under_its_name() {
    let bus = Bus::new();
    let line = line!() + 1;
    let audit = bus.subscribe_named("audit", |event: &Audited| -> Result<(), String> {
        Err(format!("no audit log for {}", event.user))
    });

    let report = bus.publish(Audited { user: "ada".into() });
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.message(), "no audit log for ada");
    let handler = failure.handler().unwrap();
    assert_eq!(handler.handler_name(), "audit");
    assert_eq!(handler.kind(), HandlerKind::Sync);
    assert_eq!(
        handler.location().to_string(),
        format!("tests/async_subscriptions.rs:{line}")
    );
    assert_eq!(
        failure.to_string(),
        "handler audit returned an error on async_subs.audited: no audit log for ada"
    );

    let listed: Vec<(&str, HandlerKind)> = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "async_subs.audited")
        .map(|info| (info.handler_name(), info.kind()))
        .collect();
    assert_eq!(listed, vec![("audit", HandlerKind::Sync)]);
    drop(audit);
}

// --- e: unsubscribe().await waits for the calls in flight -------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.held")]
struct Held;

#[tokio::test(start_paused = true)]
async fn unsubscribe_waits_for_the_calls_in_flight() {
    let bus = Bus::new();
    let release = Arc::new(tokio::sync::Notify::new());
    let started = counter();
    let finished = counter();
    let subscription = {
        let (release, started, finished) = (
            Arc::clone(&release),
            Arc::clone(&started),
            Arc::clone(&finished),
        );
        bus.subscribe_async(move |_: Arc<Held>| {
            let (release, started, finished) = (
                Arc::clone(&release),
                Arc::clone(&started),
                Arc::clone(&finished),
            );
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                release.notified().await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let report = bus.publish(Held);
    assert_eq!(report.scheduled(), 1);
    // Let the spawned call start and reach its wait.
    while started.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }

    let mut unsubscribing = Box::pin(subscription.unsubscribe());
    assert!((&mut unsubscribing).now_or_never().is_none());
    // The clock is paused: the timeout fires only once every task waits,
    // the call on its `Notify`, and still `unsubscribe` does not finish.
    let waited = tokio::time::timeout(Duration::from_secs(5), &mut unsubscribing).await;
    assert!(waited.is_err(), "unsubscribe returned while a call ran");
    assert_eq!(finished.load(Ordering::SeqCst), 0);

    // Unsubscribed already: a publish now starts nothing.
    let report = bus.publish(Held);
    assert_eq!(report.scheduled(), 0);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());

    release.notify_one();
    let before = tokio::time::Instant::now();
    tokio::time::timeout(GENEROUS, &mut unsubscribing)
        .await
        .expect("unsubscribe finishes once the call has");
    // Right after the call: no timer had to fire.
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert_eq!(finished.load(Ordering::SeqCst), 1);

    let report = bus.publish(Held);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_dead());
    bus.idle().await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.dropped_in_flight")]
struct DroppedInFlight;

#[tokio::test(start_paused = true)]
async fn dropping_an_async_subscription_lets_the_call_in_flight_finish() {
    let bus = Bus::new();
    let release = Arc::new(tokio::sync::Notify::new());
    let started = counter();
    let finished = counter();
    let subscription = {
        let (release, started, finished) = (
            Arc::clone(&release),
            Arc::clone(&started),
            Arc::clone(&finished),
        );
        bus.subscribe_async(move |_: Arc<DroppedInFlight>| {
            let (release, started, finished) = (
                Arc::clone(&release),
                Arc::clone(&started),
                Arc::clone(&finished),
            );
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                release.notified().await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    assert_eq!(bus.publish(DroppedInFlight).scheduled(), 1);
    while started.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // Inside a runtime, drop returns at once, the call still waiting.
    drop(subscription);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    let report = bus.publish(DroppedInFlight);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_dead());

    // The call was not cancelled: it runs to its end, and idle waits for it.
    release.notify_one();
    tokio::time::timeout(GENEROUS, bus.idle())
        .await
        .expect("the call in flight finishes");
    assert_eq!(started.load(Ordering::SeqCst), 1);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

// --- f: drop inside and outside a runtime -----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.blocked_elsewhere")]
struct BlockedElsewhere;

/// A current-thread runtime drops a subscription while its sync handler
/// runs on another thread, and that thread waits for the runtime's thread
/// to let it go on. A `drop` that waited for the call would never return.
#[test]
fn dropping_a_subscription_inside_a_runtime_does_not_wait_for_another_thread() {
    let (done_tx, done_rx) = mpsc::channel();
    // The runtime runs on a thread of its own, so that a hang is reported
    // as a failure rather than blocking the test binary.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(drop_inside_the_runtime());
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(GENEROUS)
        .expect("dropping the subscription blocked the runtime's thread");
}

async fn drop_inside_the_runtime() {
    let bus = Bus::new();
    let calls = counter();
    let finished = Arc::new(AtomicBool::new(false));
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let subscription = {
        let (calls, finished) = (Arc::clone(&calls), Arc::clone(&finished));
        bus.subscribe(move |_: &BlockedElsewhere| {
            calls.fetch_add(1, Ordering::SeqCst);
            entered_tx.send(()).unwrap();
            // Waits for the runtime's thread.
            release_rx.recv().unwrap();
            finished.store(true, Ordering::SeqCst);
        })
    };

    let publisher = {
        let bus = bus.clone();
        std::thread::spawn(move || bus.publish(BlockedElsewhere))
    };
    entered_rx
        .recv_timeout(GENEROUS)
        .expect("the other thread calls the handler");

    drop(subscription);
    // Returned while the call still runs on the other thread.
    assert!(!finished.load(Ordering::SeqCst));

    // After the drop, no new call starts.
    let report = bus.publish(BlockedElsewhere);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    release_tx.send(()).unwrap();
    let report = publisher.join().unwrap();
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.waited_for")]
struct WaitedFor;

/// Outside a runtime, `drop` waits for the call on the other thread.
#[test]
fn dropping_a_subscription_outside_a_runtime_waits_for_the_call_on_another_thread() {
    let bus = Bus::new();
    let calls = counter();
    let finished = Arc::new(AtomicBool::new(false));
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let subscription = {
        let (calls, finished) = (Arc::clone(&calls), Arc::clone(&finished));
        bus.subscribe(move |_: &WaitedFor| {
            calls.fetch_add(1, Ordering::SeqCst);
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            finished.store(true, Ordering::SeqCst);
        })
    };
    let subscribed = |bus: &Bus| {
        bus.handlers()
            .iter()
            .any(|info| info.event_name() == "async_subs.waited_for")
    };

    let publisher = {
        let bus = bus.clone();
        std::thread::spawn(move || bus.publish(WaitedFor))
    };
    entered_rx
        .recv_timeout(GENEROUS)
        .expect("the other thread calls the handler");

    // Lets the call end only once `drop` has taken the handler off the
    // bus, that is, once this thread is inside `drop`.
    let releaser = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + GENEROUS;
            while subscribed(&bus) {
                assert!(std::time::Instant::now() < deadline, "drop never started");
                std::thread::sleep(Duration::from_millis(1));
            }
            release_tx.send(()).unwrap();
        })
    };

    drop(subscription);
    // The call had finished when `drop` returned.
    assert!(finished.load(Ordering::SeqCst));

    releaser.join().unwrap();
    let report = publisher.join().unwrap();
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());

    let report = bus.publish(WaitedFor);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// --- g: an async subscription unsubscribes itself ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.once")]
struct Once;

/// Subscribes a handler that takes its own `Subscription` out of `slot`
/// and awaits its `unsubscribe()`.
fn self_unsubscribing(
    bus: &Bus,
    calls: &Arc<AtomicUsize>,
    unsubscribed: &Arc<AtomicUsize>,
) -> Arc<Mutex<Option<Subscription>>> {
    let slot: Arc<Mutex<Option<Subscription>>> = Arc::new(Mutex::new(None));
    let subscription = {
        let (slot, calls, unsubscribed) = (
            Arc::clone(&slot),
            Arc::clone(calls),
            Arc::clone(unsubscribed),
        );
        bus.subscribe_async(move |_: Arc<Once>| {
            let (slot, calls, unsubscribed) = (
                Arc::clone(&slot),
                Arc::clone(&calls),
                Arc::clone(&unsubscribed),
            );
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let own = slot.lock().unwrap().take();
                if let Some(own) = own {
                    own.unsubscribe().await;
                    unsubscribed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    *slot.lock().unwrap() = Some(subscription);
    slot
}

#[tokio::test(start_paused = true)]
async fn an_async_subscription_may_unsubscribe_itself_when_awaited() {
    let bus = Bus::new();
    let (calls, unsubscribed) = (counter(), counter());
    let slot = self_unsubscribing(&bus, &calls, &unsubscribed);

    // Paused clock: a deadlock makes the timeout fire at once.
    let report = tokio::time::timeout(GENEROUS, bus.publish_async(Once))
        .await
        .expect("unsubscribing itself does not deadlock");
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(unsubscribed.load(Ordering::SeqCst), 1);
    assert!(slot.lock().unwrap().is_none());

    let report = bus.publish_async(Once).await;
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_subscription_may_unsubscribe_itself_when_spawned() {
    let bus = Bus::new();
    let (calls, unsubscribed) = (counter(), counter());
    let slot = self_unsubscribing(&bus, &calls, &unsubscribed);

    let report = bus.publish(Once);
    assert_eq!(report.scheduled(), 1);
    tokio::time::timeout(GENEROUS, bus.idle())
        .await
        .expect("unsubscribing itself does not deadlock");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(unsubscribed.load(Ordering::SeqCst), 1);
    assert!(slot.lock().unwrap().is_none());

    let report = bus.publish(Once);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_dead());
    bus.idle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// --- h: order ----------------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "async_subs.ordered")]
struct Ordered;

static ORDERED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = -100)]
fn ordered_link_sync(_: &Ordered) {
    ORDERED.lock().unwrap().push("link sync");
}

#[subscribe(priority = -100)]
async fn ordered_link_async(_: &Ordered) {
    ORDERED.lock().unwrap().push("link async");
}

fn take_ordered() -> Vec<&'static str> {
    std::mem::take(&mut *ORDERED.lock().unwrap())
}

fn sync_entry(name: &'static str) -> impl Fn(&Ordered) + Send + Sync + 'static {
    move |_: &Ordered| ORDERED.lock().unwrap().push(name)
}

fn async_entry(
    name: &'static str,
) -> impl Fn(Arc<Ordered>) -> std::future::Ready<()> + Send + Sync + 'static {
    move |_: Arc<Ordered>| {
        ORDERED.lock().unwrap().push(name);
        std::future::ready(())
    }
}

#[tokio::test]
async fn runtime_subscriptions_run_after_link_time_handlers_in_subscription_order() {
    let bus = Bus::new();
    let subscriptions = vec![
        bus.subscribe_async(async_entry("async 1")),
        bus.subscribe(sync_entry("sync 1")),
        bus.subscribe_async(async_entry("async 2")),
        bus.subscribe(sync_entry("sync 2")),
    ];

    // Sync handlers inline, link-time first; then the async calls start
    // in the same order: link-time first, then subscriptions.
    let report = bus.publish_async(Ordered).await;
    assert_eq!(report.handled(), 6);
    assert!(report.is_ok());
    assert_eq!(
        take_ordered(),
        vec![
            "link sync",
            "sync 1",
            "sync 2",
            "link async",
            "async 1",
            "async 2"
        ]
    );

    // publish: the sync ones inline, the async ones spawned.
    let report = bus.publish(Ordered);
    assert_eq!(report.handled(), 3);
    assert_eq!(report.scheduled(), 3);
    assert_eq!(take_ordered(), vec!["link sync", "sync 1", "sync 2"]);
    bus.idle().await;
    let mut spawned = take_ordered();
    spawned.sort_unstable();
    assert_eq!(spawned, vec!["async 1", "async 2", "link async"]);

    // Without the first two, the others keep their order.
    let mut subscriptions = subscriptions.into_iter();
    subscriptions.next().unwrap().unsubscribe().await;
    subscriptions.next().unwrap().unsubscribe().await;
    let report = bus.publish_async(Ordered).await;
    assert_eq!(report.handled(), 4);
    assert_eq!(
        take_ordered(),
        vec!["link sync", "sync 2", "link async", "async 2"]
    );
    for subscription in subscriptions {
        subscription.unsubscribe().await;
    }
}

// --- a call scheduled before drop is not started after it ----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Late;

#[tokio::test]
async fn an_async_call_scheduled_before_drop_does_not_start_after_it() {
    let bus = Bus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let sub = bus.subscribe_async(move |_: Arc<Late>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {}
    });
    // Spawned, not yet polled on this single-threaded runtime.
    assert_eq!(bus.publish(Late).scheduled(), 1);
    drop(sub);
    bus.idle().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
