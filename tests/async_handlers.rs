//! Async handlers: `publish_async` awaits them concurrently, `publish`
//! spawns them on the bus's runtime (tracked by `idle`), and without any
//! runtime they are reported as failed, never silently skipped.
//!
//! Timing claims use tokio's paused clock, so elapsed times are exact.

use eventbus::prelude::*;
use eventbus::FailureKind;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::Duration;

use tokio::time::Instant;

// --- publish_async: sync inline first, async handlers concurrently -------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Brew {
    cups: u32,
}

/// What ran, and when, measured from the test's start.
static BREW_LOG: Mutex<Vec<(&'static str, Duration)>> = Mutex::new(Vec::new());
static BREW_START: Mutex<Option<Instant>> = Mutex::new(None);

fn brew_note(what: &'static str) {
    let start = BREW_START.lock().unwrap().expect("the test sets the start");
    BREW_LOG.lock().unwrap().push((what, start.elapsed()));
}

// Async handlers are given the higher priorities on purpose: sync handlers
// still run first, inline, and async ones are awaited after them.
#[subscribe(priority = 10)]
async fn brew_slow(brew: &Brew) {
    assert_eq!(brew.cups, 3);
    brew_note("slow:start");
    tokio::time::sleep(Duration::from_secs(1)).await;
    brew_note("slow:end");
}

#[subscribe(priority = 5)]
fn brew_sync_high(_: &Brew) {
    brew_note("sync:high");
}

#[subscribe(priority = 1)]
async fn brew_quick(_: &Brew) {
    brew_note("quick:start");
    tokio::time::sleep(Duration::from_millis(500)).await;
    brew_note("quick:end");
}

#[subscribe(priority = -5)]
fn brew_sync_low(_: &Brew) {
    brew_note("sync:low");
}

#[tokio::test(start_paused = true)]
async fn publish_async_awaits_async_handlers_concurrently_after_the_sync_ones() {
    let bus = Bus::new();
    let start = Instant::now();
    *BREW_START.lock().unwrap() = Some(start);

    let report = bus.publish_async(Brew { cups: 3 }).await;

    // Concurrent: the 1 s and the 0.5 s handler together take 1 s, not 1.5 s.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        *BREW_LOG.lock().unwrap(),
        vec![
            ("sync:high", Duration::ZERO),
            ("sync:low", Duration::ZERO),
            ("slow:start", Duration::ZERO),
            ("quick:start", Duration::ZERO),
            ("quick:end", Duration::from_millis(500)),
            ("slow:end", Duration::from_secs(1)),
        ]
    );
    assert_eq!(report.handled(), 4);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert_eq!(report.event_name(), "Brew");
}

// --- async failures are reported by publish_async ------------------------------

#[derive(Debug, PartialEq, Eq)]
struct QuotaExceeded {
    megabytes: u32,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quota exceeded by {} MB", self.megabytes)
    }
}

impl std::error::Error for QuotaExceeded {}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Upload {
    file: String,
}

static UPLOAD_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = 3)]
async fn upload_rejects(_: &Upload) -> Result<(), QuotaExceeded> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    UPLOAD_RAN.lock().unwrap().push("rejects");
    Err(QuotaExceeded { megabytes: 12 })
}

#[subscribe(priority = 2)]
async fn upload_explodes(upload: &Upload) {
    tokio::task::yield_now().await;
    UPLOAD_RAN.lock().unwrap().push("explodes");
    panic!("cannot scan {}", upload.file);
}

#[subscribe(priority = 1)]
async fn upload_stores(_: &Upload) -> Result<(), QuotaExceeded> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    UPLOAD_RAN.lock().unwrap().push("stores");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn async_errors_and_panics_are_in_the_report_with_handler_names() {
    let report = Bus::new()
        .publish_async(Upload {
            file: "cat.png".into(),
        })
        .await;

    // A failing or panicking async handler stops no other.
    assert_eq!(
        *UPLOAD_RAN.lock().unwrap(),
        vec!["explodes", "rejects", "stores"]
    );
    assert_eq!(report.handled(), 3);
    assert_eq!(report.scheduled(), 0);
    assert!(!report.is_ok());

    let failures = report.failures();
    assert_eq!(failures.len(), 2);

    let error = &failures[0];
    assert_eq!(error.kind(), FailureKind::Error);
    assert_eq!(
        error.handler().map(HandlerInfo::handler_name),
        Some("async_handlers::upload_rejects")
    );
    assert_eq!(error.event_name(), "Upload");
    assert_eq!(error.event_id(), report.event_id());
    assert_eq!(error.message(), "quota exceeded by 12 MB");
    assert_eq!(error.attempts(), 1);
    assert_eq!(
        error
            .error()
            .and_then(|error| error.downcast_ref::<QuotaExceeded>()),
        Some(&QuotaExceeded { megabytes: 12 })
    );
    assert_eq!(
        error.to_string(),
        "handler async_handlers::upload_rejects returned an error on Upload: quota exceeded by 12 MB"
    );

    let panic = &failures[1];
    assert_eq!(panic.kind(), FailureKind::Panic);
    assert_eq!(
        panic.handler().map(HandlerInfo::handler_name),
        Some("async_handlers::upload_explodes")
    );
    assert_eq!(panic.event_name(), "Upload");
    assert_eq!(panic.event_id(), report.event_id());
    assert_eq!(panic.message(), "cannot scan cat.png");
    assert_eq!(panic.attempts(), 1);
    assert!(panic.error().is_none());
    assert_eq!(
        panic.to_string(),
        "handler async_handlers::upload_explodes panicked on Upload: cannot scan cat.png"
    );
}

// --- publish inside a runtime spawns async handlers -----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Ping {
    seq: u32,
}

static PING_SYNC: AtomicUsize = AtomicUsize::new(0);
static PING_ASYNC_DONE: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn ping_sync_a(_: &Ping) {
    PING_SYNC.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
fn ping_sync_b(_: &Ping) {
    PING_SYNC.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
async fn ping_async_a(_: &Ping) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    PING_ASYNC_DONE.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
async fn ping_async_b(_: &Ping) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    PING_ASYNC_DONE.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
async fn ping_async_c(ping: &Ping) {
    assert_eq!(ping.seq, 9);
    PING_ASYNC_DONE.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn publish_in_a_runtime_spawns_async_handlers_and_idle_waits_for_them() {
    let bus = Bus::new();
    let start = Instant::now();

    let report = bus.publish(Ping { seq: 9 });

    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(report.handled(), 2);
    assert_eq!(report.scheduled(), 3);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert_eq!(PING_SYNC.load(Ordering::SeqCst), 2);
    // A current-thread runtime runs nothing spawned until this task yields.
    assert_eq!(PING_ASYNC_DONE.load(Ordering::SeqCst), 0);

    bus.idle().await;

    assert_eq!(PING_ASYNC_DONE.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

// --- publish outside any runtime ------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Offline;

static OFFLINE_SYNC: AtomicUsize = AtomicUsize::new(0);
static OFFLINE_ASYNC: AtomicUsize = AtomicUsize::new(0);

#[subscribe(priority = 2)]
async fn offline_first(_: &Offline) {
    OFFLINE_ASYNC.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(priority = 1)]
fn offline_sync(_: &Offline) {
    OFFLINE_SYNC.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(priority = 0)]
async fn offline_second(_: &Offline) {
    OFFLINE_ASYNC.fetch_add(1, Ordering::SeqCst);
}

fn no_runtime_message(handler: &str) -> String {
    format!(
        "the inline async handler {handler} was not run: no tokio runtime is running on this \
         thread and none was given with `BusBuilder::runtime`; publish from inside a runtime, \
         or give the bus one"
    )
}

#[test]
fn publish_outside_a_runtime_reports_each_async_handler_as_not_run() {
    let report = Bus::new().publish(Offline);

    assert_eq!(OFFLINE_SYNC.load(Ordering::SeqCst), 1);
    assert_eq!(OFFLINE_ASYNC.load(Ordering::SeqCst), 0);
    // Calls that were due and could not start count as handled, so the
    // event is not taken for dead.
    assert_eq!(report.handled(), 3);
    assert_eq!(report.scheduled(), 0);
    assert!(!report.is_ok());
    assert!(!report.is_dead());

    let failures = report.failures();
    assert_eq!(failures.len(), 2);
    for (failure, handler) in failures.iter().zip([
        "async_handlers::offline_first",
        "async_handlers::offline_second",
    ]) {
        assert_eq!(failure.kind(), FailureKind::NoRuntime);
        assert_eq!(failure.kind().to_string(), "found no runtime");
        assert!(failure.handler().is_none());
        assert_eq!(failure.event_name(), "Offline");
        assert_eq!(failure.event_id(), report.event_id());
        assert_eq!(failure.attempts(), 0);
        assert!(failure.error().is_none());
        assert_eq!(failure.message(), no_runtime_message(handler));
        assert_eq!(
            failure.to_string(),
            format!(
                "delivery of Offline failed: {}",
                no_runtime_message(handler)
            )
        );
    }
}

// --- a runtime given to the builder -----------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Relay {
    hops: u32,
}

static RELAY_SYNC_THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
static RELAY_ASYNC_THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
static RELAY_HOPS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn relay_sync(_: &Relay) {
    RELAY_SYNC_THREADS
        .lock()
        .unwrap()
        .push(thread::current().id());
}

#[subscribe]
async fn relay_async_a(relay: &Relay) {
    tokio::task::yield_now().await;
    RELAY_HOPS.fetch_add(relay.hops as usize, Ordering::SeqCst);
    RELAY_ASYNC_THREADS
        .lock()
        .unwrap()
        .push(thread::current().id());
}

#[subscribe]
async fn relay_async_b(relay: &Relay) {
    tokio::time::sleep(Duration::from_millis(1)).await;
    RELAY_HOPS.fetch_add(relay.hops as usize, Ordering::SeqCst);
    RELAY_ASYNC_THREADS
        .lock()
        .unwrap()
        .push(thread::current().id());
}

#[test]
fn a_runtime_given_to_the_builder_runs_async_handlers_published_from_a_plain_thread() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let bus = Bus::builder()
        .runtime(runtime.handle().clone())
        .build()
        .expect("the bus builds");
    let main = thread::current().id();

    let report = bus.publish(Relay { hops: 7 });

    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 2);
    assert!(report.is_ok());
    assert_eq!(*RELAY_SYNC_THREADS.lock().unwrap(), vec![main]);

    runtime.block_on(bus.idle());

    assert_eq!(RELAY_HOPS.load(Ordering::SeqCst), 14);
    let async_threads = RELAY_ASYNC_THREADS.lock().unwrap().clone();
    assert_eq!(async_threads.len(), 2);
    // Spawned on the runtime's workers, not run on the publishing thread.
    assert!(async_threads.iter().all(|id| *id != main));
}
