//! `BusBuilder::workers(n)`: how many worker tasks deliver the queue. One
//! (the default) delivers strictly in emit order, each event after the
//! previous one has finished; more let a slow event be passed by the ones
//! behind it. Either way every accepted event is delivered exactly once.

use eventbus::prelude::*;
use eventbus::BuildError;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Long enough for anything that is not stuck.
const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until `done` holds, checking every millisecond, for at most
/// [`PATIENCE`].
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} did not happen within {PATIENCE:?}"));
}

// --- one worker: a slow event holds back the rest -----------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Job {
    n: u32,
}

static JOBS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Notified when the worker is inside the delivery of job 0.
static JOB_STARTED: Notify = Notify::const_new();
/// Holds job 0 until the test notifies it.
static JOB_GATE: Notify = Notify::const_new();

#[subscribe]
async fn run_job(job: &Job) {
    if job.n == 0 {
        JOB_STARTED.notify_one();
        JOB_GATE.notified().await;
    }
    JOBS.lock().unwrap().push(job.n);
}

#[tokio::test(start_paused = true)]
async fn with_one_worker_a_slow_event_holds_back_the_events_behind_it() {
    let bus = Bus::new();

    bus.emit(Job { n: 0 }).await.expect("the bus is running");
    JOB_STARTED.notified().await;
    for n in 1..5 {
        bus.emit(Job { n }).await.expect("the bus is running");
    }
    // With the clock paused, this returns once every task is stuck: the
    // worker is held in job 0, and nothing else delivers jobs 1 to 4.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(*JOBS.lock().unwrap(), Vec::<u32>::new());

    JOB_GATE.notify_one();
    tokio::time::timeout(PATIENCE, bus.shutdown())
        .await
        .expect("the queue was never delivered");

    assert_eq!(*JOBS.lock().unwrap(), [0, 1, 2, 3, 4]);
}

// --- two workers: the events behind a slow one pass it ------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Chore {
    n: u32,
}

/// The chores, in the order they finished.
static CHORES: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static CHORE_STARTED: Notify = Notify::const_new();
static CHORE_GATE: Notify = Notify::const_new();

#[subscribe]
async fn run_chore(chore: &Chore) {
    if chore.n == 0 {
        CHORE_STARTED.notify_one();
        CHORE_GATE.notified().await;
    }
    CHORES.lock().unwrap().push(chore.n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_workers_events_behind_a_slow_one_are_delivered_first() {
    let bus = Bus::builder().workers(2).build().unwrap();

    bus.emit(Chore { n: 0 }).await.expect("the bus is running");
    tokio::time::timeout(PATIENCE, CHORE_STARTED.notified())
        .await
        .expect("chore 0 never started");
    for n in 1..4 {
        bus.emit(Chore { n }).await.expect("the bus is running");
    }
    // Chore 0 is still held: the other worker delivers 1, 2 and 3.
    wait_until("the delivery of chores 1 to 3", || {
        CHORES.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(*CHORES.lock().unwrap(), [1, 2, 3]);

    CHORE_GATE.notify_one();
    tokio::time::timeout(PATIENCE, bus.shutdown())
        .await
        .expect("chore 0 was never delivered");

    assert_eq!(*CHORES.lock().unwrap(), [1, 2, 3, 0]);
}

// --- four workers: each event exactly once --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stamp {
    emitter: u32,
    n: u32,
}

static STAMPS: AtomicUsize = AtomicUsize::new(0);
static STAMPS_SEEN: Mutex<Option<HashSet<(u32, u32)>>> = Mutex::new(None);
static STAMPS_TWICE: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

#[subscribe]
fn count_stamp(stamp: &Stamp) {
    STAMPS.fetch_add(1, Ordering::SeqCst);
    let key = (stamp.emitter, stamp.n);
    let first = STAMPS_SEEN
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(key);
    if !first {
        STAMPS_TWICE.lock().unwrap().push(key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_four_workers_ten_thousand_events_are_each_delivered_once() {
    let bus = Bus::builder()
        .workers(4)
        .queue_capacity(64)
        .build()
        .unwrap();

    let emitters: Vec<_> = (0..4)
        .map(|emitter| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0..2_500 {
                    bus.emit(Stamp { emitter, n })
                        .await
                        .expect("the bus is running");
                }
            })
        })
        .collect();
    for emitter in emitters {
        emitter.await.unwrap();
    }
    tokio::time::timeout(PATIENCE, bus.shutdown())
        .await
        .expect("the queue was never delivered");

    assert_eq!(STAMPS.load(Ordering::SeqCst), 10_000);
    assert_eq!(*STAMPS_TWICE.lock().unwrap(), Vec::<(u32, u32)>::new());
    let seen = STAMPS_SEEN.lock().unwrap().take().unwrap_or_default();
    let expected: HashSet<(u32, u32)> = (0..4)
        .flat_map(|emitter| (0..2_500).map(move |n| (emitter, n)))
        .collect();
    assert_eq!(seen.len(), 10_000);
    assert!(seen == expected, "some events were not delivered");
}

// --- settings the builder refuses ------------------------------------------------------

#[test]
fn zero_workers_is_refused_by_build() {
    let error = Bus::builder()
        .workers(0)
        .build()
        .expect_err("a bus with 0 workers was built");
    match &error {
        BuildError::InvalidSetting { setting, message } => {
            assert_eq!(*setting, "workers");
            assert_eq!(
                *message,
                "with 0 workers nothing queued would ever be delivered; give at least 1 \
                 (the default)"
            );
        }
        other => panic!("another error: {other}"),
    }
    assert_eq!(
        error.to_string(),
        "`BusBuilder::workers`: with 0 workers nothing queued would ever be delivered; \
         give at least 1 (the default)"
    );
    assert_eq!(format!("{error:?}"), error.to_string());
}

#[test]
fn a_queue_capacity_of_zero_is_refused_by_build() {
    let error = Bus::builder()
        .queue_capacity(0)
        .build()
        .expect_err("a bus with a queue of capacity 0 was built");
    match &error {
        BuildError::InvalidSetting { setting, message } => {
            assert_eq!(*setting, "queue_capacity");
            assert_eq!(
                *message,
                "a queue of capacity 0 could never take an event; give at least 1 \
                 (the default is 1024)"
            );
        }
        other => panic!("another error: {other}"),
    }
    assert_eq!(
        error.to_string(),
        "`BusBuilder::queue_capacity`: a queue of capacity 0 could never take an event; \
         give at least 1 (the default is 1024)"
    );
}

// --- a panic let through the bus leaves the queue for the next worker -----------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Brittle {
    n: u32,
}

static BRITTLE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn handle_brittle(brittle: &Brittle) {
    assert!(brittle.n != 1, "brittle 1 breaks");
    BRITTLE.lock().unwrap().push(brittle.n);
}

#[tokio::test]
async fn a_panic_let_through_the_worker_leaves_the_rest_queued_for_a_new_worker() {
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&failures);
    let bus = Bus::builder()
        .catch_panics(false)
        .on_error(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    for n in 0..4 {
        bus.emit(Brittle { n }).await.unwrap();
    }
    // The worker's task panics at event 1; the events behind it stay
    // queued, and `shutdown` starts a new worker that delivers them.
    tokio::time::timeout(Duration::from_secs(10), bus.shutdown())
        .await
        .expect("shutdown delivered the rest");
    assert_eq!(*BRITTLE.lock().unwrap(), [0, 2, 3]);
    // Nothing was reported as abandoned: the panic is what was asked for.
    assert_eq!(failures.load(Ordering::SeqCst), 0);
}

// --- every worker ends at shutdown ----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Tally;

#[subscribe]
fn count_tally(_: &Tally) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_ends_at_shutdown_while_the_bus_is_kept() {
    let runtime = tokio::runtime::Handle::current();
    let before = runtime.metrics().num_alive_tasks();
    let bus = Bus::builder().workers(3).build().unwrap();
    for _ in 0..30 {
        bus.emit(Tally).await.unwrap();
    }
    bus.shutdown().await;
    wait_until("every worker task ended", || {
        runtime.metrics().num_alive_tasks() == before
    })
    .await;
    drop(bus);
}
