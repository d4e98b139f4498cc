//! `FailureKind::Abandoned`: an event accepted by `emit`/`try_emit`, or a
//! handler spawned by `publish`, that can no longer be delivered because
//! the runtime that was to run it ended is never lost silently. Each one
//! goes to `on_error` and to the dead letters, and the queue logs one
//! `tracing` error with the count.
//!
//! Each test drives its own runtimes by hand, so that it decides when the
//! runtime (and with it the queue's worker) goes away.

use eventbus::prelude::*;
use eventbus::{FailureKind, MemoryDeadLetters};

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing_subscriber::util::SubscriberInitExt;

/// What `on_error` was given, one entry per failure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    kind: FailureKind,
    has_handler: bool,
    event_name: &'static str,
    message: String,
}

type SeenList = Arc<Mutex<Vec<Seen>>>;

/// A bus that records every failure given to `on_error`, and keeps the
/// dead letters in `letters`.
fn watched_bus(seen: &SeenList, letters: &MemoryDeadLetters) -> Bus {
    let seen = Arc::clone(seen);
    Bus::builder()
        .on_error(move |failure| {
            seen.lock().unwrap().push(Seen {
                kind: failure.kind(),
                has_handler: failure.handler().is_some(),
                event_name: failure.event_name(),
                message: failure.message().to_owned(),
            });
        })
        .dead_letters(letters.clone())
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// The message of a queued event that was never delivered.
fn never_delivered(name: &str) -> String {
    format!(
        "`{name}` was accepted but never delivered: the bus's queue stopped first (the \
         runtime that ran it ended); await `bus.shutdown()` before the runtime ends"
    )
}

/// Checks that `seen` and `letters` both hold exactly one abandoned
/// failure for each of `0..count`, in emit order, the event being
/// `{"n": i}`.
fn assert_abandoned(seen: &SeenList, letters: &MemoryDeadLetters, name: &'static str, count: u32) {
    let message = never_delivered(name);
    let expected: Vec<Seen> = (0..count)
        .map(|_| Seen {
            kind: FailureKind::Abandoned,
            has_handler: false,
            event_name: name,
            message: message.clone(),
        })
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);

    let letters = letters.letters();
    assert_eq!(letters.len(), count as usize);
    for (n, letter) in (0..count).zip(&letters) {
        assert_eq!(letter.kind, FailureKind::Abandoned, "letter {n}");
        assert_eq!(letter.handler, None, "letter {n}");
        assert_eq!(letter.event_name, name, "letter {n}");
        assert_eq!(letter.message, message, "letter {n}");
        assert_eq!(letter.attempts, 0, "letter {n}");
        assert_eq!(
            letter.payload,
            Some(serde_json::json!({ "n": n })),
            "letter {n}"
        );
    }
}

// --- the bus dropped, then the runtime -------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stranded {
    n: u32,
}

static STRANDED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn deliver_stranded(_: &Stranded) {
    STRANDED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn events_queued_when_the_runtime_ends_are_each_reported_as_abandoned() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();

    runtime.block_on(async {
        // 100 of the default 1024: no emit waits, so the worker never
        // gets to run on this single thread.
        for n in 0..100 {
            bus.emit(Stranded { n }).await.expect("the queue has room");
        }
    });
    drop(bus);
    // The runtime could still run the worker: nothing is given up yet.
    assert_eq!(*seen.lock().unwrap(), []);
    assert!(letters.is_empty());

    drop(runtime);

    assert_eq!(STRANDED.load(Ordering::SeqCst), 0);
    assert_abandoned(&seen, &letters, "Stranded", 100);
}

// --- the last bus dropped inside the runtime ----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Marooned {
    n: u32,
}

static MAROONED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn deliver_marooned(_: &Marooned) {
    MAROONED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_thousand_events_queued_behind_the_last_bus_are_abandoned_with_the_runtime() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();

    runtime.block_on(async move {
        for n in 0..1_000 {
            bus.try_emit(Marooned { n }).expect("the queue has room");
        }
        // The last handle: the queue closes, its worker (never run) is
        // left to drain it.
        drop(bus);
    });
    assert_eq!(*seen.lock().unwrap(), []);

    drop(runtime);

    assert_eq!(MAROONED.load(Ordering::SeqCst), 0);
    assert_abandoned(&seen, &letters, "Marooned", 1_000);
}

// --- the runtime dropped, then the bus ------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Adrift {
    n: u32,
}

static ADRIFT: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn deliver_adrift(_: &Adrift) {
    ADRIFT.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn events_left_by_a_dead_runtime_are_abandoned_when_the_last_bus_drops() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();

    runtime.block_on(async {
        for n in 0..100 {
            bus.emit(Adrift { n }).await.expect("the queue has room");
        }
    });
    drop(runtime);
    // The bus lives on: another runtime could still deliver the queue.
    assert_eq!(*seen.lock().unwrap(), []);

    drop(bus);

    assert_eq!(ADRIFT.load(Ordering::SeqCst), 0);
    assert_abandoned(&seen, &letters, "Adrift", 100);
}

// --- a runtime that lives on delivers everything ---------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Afloat {
    n: u32,
}

static AFLOAT: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn deliver_afloat(afloat: &Afloat) {
    AFLOAT.lock().unwrap().push(afloat.n);
}

#[test]
fn events_behind_a_dropped_bus_are_delivered_while_the_runtime_lives() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    let delivered = runtime.block_on(async move {
        for n in 0..100 {
            bus.emit(Afloat { n }).await.expect("the queue has room");
        }
        drop(bus);
        // No `shutdown` is possible any more: the worker, which still has
        // a runtime, delivers the queue by itself.
        tokio::time::timeout(Duration::from_secs(10), async {
            while AFLOAT.lock().unwrap().len() < 100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
    });
    assert!(delivered.is_ok(), "the queue was not delivered in 10 s");
    drop(runtime);

    assert_eq!(*AFLOAT.lock().unwrap(), (0..100).collect::<Vec<u32>>());
    assert_eq!(*seen.lock().unwrap(), []);
    assert!(letters.is_empty());
}

// --- a spawned handler that never finishes ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Hung {
    n: u32,
}

static HUNG_STARTED: Notify = Notify::const_new();
static HUNG_FINISHED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
async fn hang(_: &Hung) {
    HUNG_STARTED.notify_one();
    std::future::pending::<()>().await;
    HUNG_FINISHED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_spawned_handler_still_running_when_the_runtime_ends_is_abandoned() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();

    let event_id = runtime.block_on(async {
        let report = bus.publish(Hung { n: 7 });
        assert_eq!(report.scheduled(), 1);
        assert!(report.is_ok(), "{report:?}");
        // The handler is inside its `pending()` from here on.
        HUNG_STARTED.notified().await;
        report.event_id()
    });
    assert_eq!(*seen.lock().unwrap(), []);

    drop(runtime);

    let message = "the handler abandoned::hang of `Hung` was abandoned before it finished: the \
                   runtime that ran it ended first; await `bus.idle()` or `bus.shutdown()` before \
                   the runtime ends";
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen {
            kind: FailureKind::Abandoned,
            has_handler: false,
            event_name: "Hung",
            message: message.to_owned(),
        }]
    );
    let letters_now = letters.letters();
    assert_eq!(letters_now.len(), 1);
    let letter = &letters_now[0];
    assert_eq!(letter.kind, FailureKind::Abandoned);
    assert_eq!(letter.handler, None);
    assert_eq!(letter.event_name, "Hung");
    assert_eq!(letter.event_id, event_id);
    assert_eq!(letter.message, message);
    assert_eq!(letter.payload, Some(serde_json::json!({ "n": 7 })));
    assert_eq!(letter.to_string(), format!("Hung {event_id}: {message}"));

    // Dropping the bus afterwards reports nothing more.
    drop(bus);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(letters.len(), 1);
    assert_eq!(HUNG_FINISHED.load(Ordering::SeqCst), 0);
}

// --- the tracing error with the count ----------------------------------------------

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Logged {
    n: u32,
}

static LOGGED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn deliver_logged(_: &Logged) {
    LOGGED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn abandoned_events_are_logged_once_with_their_count() {
    let output = Output::default();
    let writer = output.clone();
    let guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .without_time()
        .with_target(false)
        .finish()
        .set_default();

    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();
    runtime.block_on(async {
        for n in 0..100 {
            bus.emit(Logged { n }).await.expect("the queue has room");
        }
    });
    drop(bus);
    drop(runtime);
    drop(guard);

    let log = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        log.matches("100 queued event(s) were never delivered")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "ERROR 100 queued event(s) were never delivered: the bus's queue stopped first (the \
             runtime that ran it ended); await `bus.shutdown()` before the runtime ends \
             abandoned=100"
        ]
    );
    assert_eq!(LOGGED.load(Ordering::SeqCst), 0);
    assert_eq!(seen.lock().unwrap().len(), 100);
    assert_eq!(letters.len(), 100);
}

// --- a bus taken up by a second runtime -----------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Rescued {
    n: u32,
}

static RESCUED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn deliver_rescued(rescued: &Rescued) {
    RESCUED.lock().unwrap().push(rescued.n);
}

/// LIBRARY BUG (fails): the worker that the first `emit` spawns is counted
/// in the ledger at once, but it uncounts itself only in the drop of a
/// guard it makes when first polled. A runtime that ends before polling it
/// leaves the bus believing a worker runs: no later `emit` or `idle` starts
/// one, the events stay queued and `idle` waits forever (they are reported
/// as abandoned only when the last bus drops).
#[test]
fn events_whose_worker_never_ran_are_delivered_by_the_next_runtime() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);

    let first = current_thread();
    first.block_on(async {
        // The worker is spawned but never polled before its runtime ends.
        for n in 0..3 {
            bus.emit(Rescued { n }).await.expect("the queue has room");
        }
    });
    drop(first);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let idle = second.block_on(async {
        bus.emit(Rescued { n: 3 })
            .await
            .expect("the queue has room");
        // The clock is paused: this times out only if nothing can run.
        tokio::time::timeout(Duration::from_secs(60), bus.idle()).await
    });
    assert!(
        idle.is_ok(),
        "LIBRARY BUG: the events were never delivered (delivered: {:?})",
        RESCUED.lock().unwrap()
    );
    assert_eq!(*RESCUED.lock().unwrap(), [0, 1, 2, 3]);
    drop(bus);
    drop(second);
    assert_eq!(*seen.lock().unwrap(), []);
    assert!(letters.is_empty());
}

// --- a queued delivery cut off by the end of its runtime -----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct CutOff {
    n: u32,
}

static CUT_OFF: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Notified when the worker is inside the delivery of event 0.
static CUT_OFF_STARTED: Notify = Notify::const_new();

#[subscribe]
async fn deliver_cut_off(cut_off: &CutOff) {
    if cut_off.n == 0 {
        CUT_OFF_STARTED.notify_one();
        std::future::pending::<()>().await;
    }
    CUT_OFF.lock().unwrap().push(cut_off.n);
}

#[test]
fn a_queued_delivery_cut_off_by_its_runtime_is_abandoned_and_the_rest_with_the_bus() {
    let seen = SeenList::default();
    let letters = MemoryDeadLetters::new();
    let bus = watched_bus(&seen, &letters);
    let runtime = current_thread();

    runtime.block_on(async {
        for n in 0..5 {
            bus.emit(CutOff { n }).await.expect("the queue has room");
        }
        // The worker holds event 0; 1 to 4 wait behind it.
        CUT_OFF_STARTED.notified().await;
    });
    drop(runtime);

    // The delivery in progress is gone with its runtime.
    let in_flight = "the delivery of `CutOff` was abandoned before its handlers finished: the \
                     runtime that ran the bus's queue ended first; await `bus.shutdown()` \
                     before the runtime ends";
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen {
            kind: FailureKind::Abandoned,
            has_handler: false,
            event_name: "CutOff",
            message: in_flight.to_owned(),
        }]
    );
    let letter = letters.take().pop().expect("one dead letter");
    assert_eq!(letter.kind, FailureKind::Abandoned);
    assert_eq!(letter.handler, None);
    assert_eq!(letter.payload, Some(serde_json::json!({ "n": 0 })));

    // The events not started stay queued for another runtime, until the
    // last bus goes.
    drop(bus);

    let never = never_delivered("CutOff");
    let seen_now = seen.lock().unwrap().clone();
    assert_eq!(seen_now.len(), 5);
    for later in &seen_now[1..] {
        assert_eq!(later.kind, FailureKind::Abandoned);
        assert!(!later.has_handler);
        assert_eq!(later.message, never);
    }
    let payloads: Vec<_> = letters
        .letters()
        .into_iter()
        .map(|letter| (letter.kind, letter.payload))
        .collect();
    assert_eq!(
        payloads,
        (1..5)
            .map(|n| (FailureKind::Abandoned, Some(serde_json::json!({ "n": n }))))
            .collect::<Vec<_>>()
    );
    assert_eq!(*CUT_OFF.lock().unwrap(), Vec::<u32>::new());
}

// --- a handler that panics is not abandoned -----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Unwound {
    n: u32,
}

#[subscribe]
async fn unwind(_: &Unwound) {
    tokio::task::yield_now().await;
    panic!("unwound on purpose");
}

/// LIBRARY BUG (fails): with `catch_panics(false)` the panic of a spawned
/// handler unwinds through the task that runs it, which drops the
/// handler's "unfinished" guard: `on_error` and the dead letters get a
/// `FailureKind::Abandoned` failure saying "the runtime that ran it ended
/// first", while the runtime is alive and well.
#[test]
fn a_spawned_handler_that_panics_with_catch_panics_off_is_not_reported_as_abandoned() {
    let seen = SeenList::default();
    let on_error = Arc::clone(&seen);
    let letters = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .catch_panics(false)
        .on_error(move |failure| {
            on_error.lock().unwrap().push(Seen {
                kind: failure.kind(),
                has_handler: failure.handler().is_some(),
                event_name: failure.event_name(),
                message: failure.message().to_owned(),
            });
        })
        .dead_letters(letters.clone())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();

    let idle = runtime.block_on(async {
        let report = bus.publish(Unwound { n: 1 });
        assert_eq!(report.scheduled(), 1);
        tokio::time::timeout(Duration::from_secs(60), bus.idle()).await
    });
    assert!(idle.is_ok(), "the panicked task kept the bus busy");

    // The runtime is still running: nothing was abandoned.
    let abandoned: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| seen.kind == FailureKind::Abandoned)
        .cloned()
        .collect();
    assert_eq!(abandoned, [], "LIBRARY BUG: a panic reported as abandoned");
    let abandoned_letters = letters
        .letters()
        .iter()
        .filter(|letter| letter.kind == FailureKind::Abandoned)
        .count();
    assert_eq!(abandoned_letters, 0);
    drop(runtime);
}
