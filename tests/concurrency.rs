//! One bus shared by many threads: every publish is delivered exactly once,
//! subscribing and unsubscribing race safely with publishes, and a dropped
//! subscription is never entered again once `drop` has returned.
//!
//! Nothing here waits on a clock. Where a test yields in a loop, it only
//! makes a wrong interleaving more likely to show; a correct bus passes
//! whatever the scheduler does.

use eventbus::prelude::*;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

// --- static properties ------------------------------------------------------------

fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
fn assert_sendable<T: Send + Sync + 'static>() {}

#[test]
fn bus_is_clone_send_sync_and_subscription_is_send_sync() {
    assert_shareable::<Bus>();
    assert_sendable::<Subscription>();
    assert_sendable::<Report>();
}

// --- many publishing threads ----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.hit")]
struct Hit {
    thread: usize,
}

static HITS: AtomicUsize = AtomicUsize::new(0);
static HITS_PER_THREAD: [AtomicUsize; 4] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

#[subscribe]
fn count_hit(hit: &Hit) {
    HITS.fetch_add(1, Ordering::Relaxed);
    HITS_PER_THREAD[hit.thread].fetch_add(1, Ordering::Relaxed);
}

#[test]
fn four_threads_of_ten_thousand_publishes_give_forty_thousand_calls() {
    let bus = Bus::new();
    let handled: usize = thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|thread| {
                let bus = bus.clone();
                scope.spawn(move || {
                    let mut handled = 0;
                    for _ in 0..10_000 {
                        let report = bus.publish(Hit { thread });
                        assert!(report.is_ok());
                        handled += report.handled();
                    }
                    handled
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(handled, 40_000);
    assert_eq!(HITS.load(Ordering::Relaxed), 40_000);
    for per_thread in &HITS_PER_THREAD {
        assert_eq!(per_thread.load(Ordering::Relaxed), 10_000);
    }
}

// --- subscribe and drop while other threads publish -------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.raced")]
struct Raced;

static RACE_CALLS: AtomicUsize = AtomicUsize::new(0);
static RACE_VIOLATIONS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn subscribing_and_dropping_races_safely_with_publishes() {
    const PUBLISHERS: usize = 3;
    const CYCLES: usize = 300;
    const MAX_PUBLISHES: usize = 2_000_000;

    let bus = Bus::new();
    let done = AtomicBool::new(false);
    let calls = &RACE_CALLS;
    let violations = &RACE_VIOLATIONS;

    let (handled, cycles_with_calls) = thread::scope(|scope| {
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|_| {
                let bus = bus.clone();
                let done = &done;
                scope.spawn(move || {
                    let mut handled = 0;
                    for _ in 0..MAX_PUBLISHES {
                        if done.load(Ordering::SeqCst) {
                            break;
                        }
                        let report = bus.publish(Raced);
                        assert!(report.is_ok(), "{report:?}");
                        handled += report.handled();
                    }
                    handled
                })
            })
            .collect();

        let subscriber = {
            let bus = bus.clone();
            let done = &done;
            scope.spawn(move || {
                let mut cycles_with_calls = 0;
                for _ in 0..CYCLES {
                    // Two subscriptions at a time, each with its own flag
                    // that is set only once its `drop` has returned.
                    let make = || {
                        let dropped = Arc::new(AtomicBool::new(false));
                        let mine = Arc::new(AtomicUsize::new(0));
                        let flag = Arc::clone(&dropped);
                        let count = Arc::clone(&mine);
                        let subscription = bus.subscribe(move |_: &Raced| {
                            if flag.load(Ordering::SeqCst) {
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                            calls.fetch_add(1, Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                            for _ in 0..50 {
                                std::hint::spin_loop();
                            }
                            // Still inside: `drop` must not have returned yet.
                            if flag.load(Ordering::SeqCst) {
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                        });
                        (subscription, dropped, mine)
                    };
                    let (first, first_dropped, first_calls) = make();
                    let (second, second_dropped, _) = make();
                    // Give the publishers a chance to be inside the closure
                    // when it is dropped (bounded; not needed for correctness).
                    for _ in 0..10_000 {
                        if first_calls.load(Ordering::SeqCst) > 0 {
                            break;
                        }
                        thread::yield_now();
                    }
                    if first_calls.load(Ordering::SeqCst) > 0 {
                        cycles_with_calls += 1;
                    }
                    drop(first);
                    first_dropped.store(true, Ordering::SeqCst);
                    drop(second);
                    second_dropped.store(true, Ordering::SeqCst);
                }
                done.store(true, Ordering::SeqCst);
                cycles_with_calls
            })
        };

        let cycles_with_calls = subscriber.join().unwrap();
        let handled: usize = publishers.into_iter().map(|p| p.join().unwrap()).sum();
        (handled, cycles_with_calls)
    });

    assert_eq!(violations.load(Ordering::SeqCst), 0);
    // Every call a report counted is a call the closures saw, and back.
    assert_eq!(handled, calls.load(Ordering::SeqCst));
    assert!(cycles_with_calls > 0, "the race never overlapped a call");
    // Every subscription is gone.
    let left = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "concurrency.raced")
        .count();
    assert_eq!(left, 0);
    assert_eq!(bus.publish(Raced).handled(), 0);
}

// --- drop waits for a call running on another thread --------------------------------

/// Runs a closure of `slow_event` on another thread and, while it is inside,
/// drops its subscription from `drop_from`; returns whether the closure was
/// still running when `drop` returned (it never may be).
///
/// A releaser thread lets the closure finish only after the drop has begun,
/// and yields a while first so that a `drop` that does not wait returns
/// while the closure is still inside.
fn still_running_after_drop(drop_from: impl FnOnce(Box<dyn FnOnce() + Send>)) -> bool {
    #[derive(Default)]
    struct Flags {
        inside: AtomicBool,
        release: AtomicBool,
        dropping: AtomicBool,
    }

    let bus = Bus::new();
    let flags = Arc::new(Flags::default());
    let subscription = {
        let flags = Arc::clone(&flags);
        bus.subscribe(move |_: &SlowCall| {
            flags.inside.store(true, Ordering::SeqCst);
            while !flags.release.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            flags.inside.store(false, Ordering::SeqCst);
        })
    };

    thread::scope(|scope| {
        let publisher = {
            let bus = bus.clone();
            scope.spawn(move || bus.publish(SlowCall).handled())
        };
        let releaser = {
            let flags = Arc::clone(&flags);
            scope.spawn(move || {
                while !flags.dropping.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                for _ in 0..200_000 {
                    thread::yield_now();
                }
                flags.release.store(true, Ordering::SeqCst);
            })
        };
        while !flags.inside.load(Ordering::SeqCst) {
            thread::yield_now();
        }

        let observed = Arc::new(AtomicBool::new(false));
        let dropper: Box<dyn FnOnce() + Send> = {
            let flags = Arc::clone(&flags);
            let observed = Arc::clone(&observed);
            Box::new(move || {
                flags.dropping.store(true, Ordering::SeqCst);
                drop(subscription);
                observed.store(flags.inside.load(Ordering::SeqCst), Ordering::SeqCst);
            })
        };
        drop_from(dropper);

        assert_eq!(publisher.join().unwrap(), 1);
        releaser.join().unwrap();
        observed.load(Ordering::SeqCst)
    })
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.slow_call")]
struct SlowCall;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.trigger")]
struct Trigger;

#[test]
fn drop_waits_for_a_call_running_on_another_thread() {
    let still_running = still_running_after_drop(|dropper| dropper());
    assert!(!still_running);
}

/// The same, with the drop made inside a run-time handler of another,
/// fresh bus: that handler running on this thread must not count as the
/// dropped subscription's own call.
#[test]
fn drop_inside_a_handler_of_another_bus_still_waits_for_other_threads() {
    let still_running = still_running_after_drop(|dropper| {
        let other = Bus::new();
        let dropper = Mutex::new(Some(dropper));
        let _trigger = other.subscribe(move |_: &Trigger| {
            if let Some(dropper) = dropper.lock().unwrap().take() {
                dropper();
            }
        });
        assert_eq!(other.publish(Trigger).handled(), 1);
    });
    assert!(
        !still_running,
        "drop returned while the closure was still running on another thread"
    );
}

// --- a closure that drops its own subscription ----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.once")]
struct Once;

#[test]
fn a_closure_may_drop_its_own_subscription() {
    let bus = Bus::new();
    let slot: Arc<Mutex<Option<Subscription>>> = Arc::new(Mutex::new(None));
    let calls = Arc::new(AtomicUsize::new(0));
    let subscription = {
        let slot = Arc::clone(&slot);
        let calls = Arc::clone(&calls);
        bus.subscribe(move |_: &Once| {
            calls.fetch_add(1, Ordering::SeqCst);
            let mine = slot.lock().unwrap().take();
            drop(mine);
        })
    };
    *slot.lock().unwrap() = Some(subscription);

    let handled: Vec<usize> = (0..3).map(|_| bus.publish(Once).handled()).collect();
    assert_eq!(handled, vec![1, 0, 0]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(slot.lock().unwrap().is_none());
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.once_shared")]
struct OnceShared;

#[test]
fn a_closure_dropping_its_own_subscription_while_other_threads_call_it() {
    const THREADS: usize = 4;
    const PUBLISHES: usize = 2_000;

    let bus = Bus::new();
    let slot: Arc<Mutex<Option<Subscription>>> = Arc::new(Mutex::new(None));
    let dropped = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let subscription = {
        let slot = Arc::clone(&slot);
        let dropped = Arc::clone(&dropped);
        let violations = Arc::clone(&violations);
        let calls = Arc::clone(&calls);
        bus.subscribe(move |_: &OnceShared| {
            if dropped.load(Ordering::SeqCst) {
                violations.fetch_add(1, Ordering::SeqCst);
            }
            // The tenth call drops the subscription it belongs to, while
            // other threads may be inside this closure too.
            if calls.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
                let mine = slot.lock().unwrap().take();
                drop(mine);
                dropped.store(true, Ordering::SeqCst);
            }
        })
    };
    *slot.lock().unwrap() = Some(subscription);

    let handled: usize = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let bus = bus.clone();
                scope.spawn(move || {
                    (0..PUBLISHES)
                        .map(|_| bus.publish(OnceShared).handled())
                        .sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });

    assert_eq!(violations.load(Ordering::SeqCst), 0);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(handled, calls.load(Ordering::SeqCst));
    assert!(handled >= 10);
    assert_eq!(bus.publish(OnceShared).handled(), 0);
}

// --- a subscription made during a publish ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.grow")]
struct Grow;

static GROW_BUS: OnceLock<Bus> = OnceLock::new();
static GROWN: Mutex<Vec<Subscription>> = Mutex::new(Vec::new());
static LATE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Subscribes one more closure each time it runs.
#[subscribe]
fn grow(_: &Grow) {
    if let Some(bus) = GROW_BUS.get() {
        let subscription = bus.subscribe(|_: &Grow| {
            LATE_CALLS.fetch_add(1, Ordering::SeqCst);
        });
        GROWN.lock().unwrap().push(subscription);
    }
}

#[test]
fn a_link_time_handler_subscribing_during_a_publish_is_heard_from_the_next() {
    let bus = Bus::new();
    assert!(GROW_BUS.set(bus.clone()).is_ok());

    let first = bus.publish(Grow);
    assert_eq!(first.handled(), 1);
    assert_eq!(LATE_CALLS.load(Ordering::SeqCst), 0);
    assert_eq!(GROWN.lock().unwrap().len(), 1);

    let second = bus.publish(Grow);
    assert_eq!(second.handled(), 2);
    assert_eq!(LATE_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(GROWN.lock().unwrap().len(), 2);

    let third = bus.publish(Grow);
    assert_eq!(third.handled(), 3);
    assert_eq!(LATE_CALLS.load(Ordering::SeqCst), 3);

    GROWN.lock().unwrap().clear();
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "concurrency.spawn")]
struct Spawn;

#[test]
fn a_closure_subscribing_during_a_publish_is_heard_from_the_next() {
    let bus = Bus::new();
    let late_calls = Arc::new(AtomicUsize::new(0));
    let made: Arc<Mutex<Vec<Subscription>>> = Arc::new(Mutex::new(Vec::new()));
    let spawner = {
        let inner_bus = bus.clone();
        let late_calls = Arc::clone(&late_calls);
        let made = Arc::clone(&made);
        bus.subscribe(move |_: &Spawn| {
            if made.lock().unwrap().is_empty() {
                let late_calls = Arc::clone(&late_calls);
                let late = inner_bus.subscribe(move |_: &Spawn| {
                    late_calls.fetch_add(1, Ordering::SeqCst);
                });
                made.lock().unwrap().push(late);
            }
        })
    };

    assert_eq!(bus.publish(Spawn).handled(), 1);
    assert_eq!(late_calls.load(Ordering::SeqCst), 0);
    assert_eq!(bus.publish(Spawn).handled(), 2);
    assert_eq!(late_calls.load(Ordering::SeqCst), 1);

    drop(spawner);
    made.lock().unwrap().clear();
    assert_eq!(bus.publish(Spawn).handled(), 0);
}
