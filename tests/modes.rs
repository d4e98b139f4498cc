//! `#[subscribe(mode = ...)]`: `background` handlers are spawned and never
//! awaited; `blocking` handlers run on the blocking pool, awaited by
//! `publish_async` and spawned by `publish`.

use eventbus::prelude::*;
use eventbus::{FailureKind, HandlerKind, Mode};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use tokio::time::Instant;

fn info(bus: &Bus, handler_name: &str) -> HandlerInfo {
    bus.handlers()
        .into_iter()
        .find(|info| info.handler_name() == handler_name)
        .unwrap_or_else(|| panic!("no handler named {handler_name}"))
}

// --- background: never awaited ---------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Archive {
    pages: u32,
}

static ARCHIVE_INLINE: AtomicUsize = AtomicUsize::new(0);
static ARCHIVE_BG_SYNC: AtomicUsize = AtomicUsize::new(0);
static ARCHIVE_BG_ASYNC: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn archive_inline(_: &Archive) {
    ARCHIVE_INLINE.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(mode = "background")]
fn archive_bg_sync(archive: &Archive) {
    assert_eq!(archive.pages, 12);
    ARCHIVE_BG_SYNC.fetch_add(1, Ordering::SeqCst);
}

#[subscribe(mode = "background")]
async fn archive_bg_async(archive: &Archive) {
    assert_eq!(archive.pages, 12);
    tokio::time::sleep(Duration::from_secs(10)).await;
    ARCHIVE_BG_ASYNC.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn background_handlers_are_scheduled_never_awaited() {
    let bus = Bus::new();
    let start = Instant::now();

    let report = bus.publish_async(Archive { pages: 12 }).await;

    // Awaiting the async one would have moved the paused clock by 10 s.
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 2);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert_eq!(ARCHIVE_INLINE.load(Ordering::SeqCst), 1);
    // A current-thread runtime runs nothing spawned until this task yields.
    assert_eq!(ARCHIVE_BG_SYNC.load(Ordering::SeqCst), 0);
    assert_eq!(ARCHIVE_BG_ASYNC.load(Ordering::SeqCst), 0);

    bus.idle().await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(ARCHIVE_BG_SYNC.load(Ordering::SeqCst), 1);
    assert_eq!(ARCHIVE_BG_ASYNC.load(Ordering::SeqCst), 1);

    // `publish` treats them the same way.
    let report = bus.publish(Archive { pages: 12 });
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 2);
    assert!(report.is_ok());
    assert_eq!(ARCHIVE_INLINE.load(Ordering::SeqCst), 2);
    assert_eq!(ARCHIVE_BG_SYNC.load(Ordering::SeqCst), 1);
    bus.idle().await;
    assert_eq!(start.elapsed(), Duration::from_secs(20));
    assert_eq!(ARCHIVE_BG_SYNC.load(Ordering::SeqCst), 2);
    assert_eq!(ARCHIVE_BG_ASYNC.load(Ordering::SeqCst), 2);
}

// --- background without a runtime ----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Sweep;

static SWEEP_RAN: AtomicUsize = AtomicUsize::new(0);

#[subscribe(mode = "background")]
fn sweep_later(_: &Sweep) {
    SWEEP_RAN.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_background_handler_without_a_runtime_is_reported_as_not_run() {
    let report = Bus::new().publish(Sweep);

    assert_eq!(SWEEP_RAN.load(Ordering::SeqCst), 0);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 0);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::NoRuntime);
    assert!(failure.handler().is_none());
    assert_eq!(failure.event_name(), "Sweep");
    assert_eq!(
        failure.message(),
        "the background sync handler modes::sweep_later was not run: no tokio runtime is \
         running on this thread and none was given with `BusBuilder::runtime`; publish from \
         inside a runtime, or give the bus one"
    );
}

// --- blocking: on the blocking pool, awaited by publish_async -----------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Render {
    frames: u32,
}

/// (handler, thread it ran on), in the order the calls ended.
static RENDER_LOG: Mutex<Vec<(&'static str, ThreadId)>> = Mutex::new(Vec::new());

#[subscribe(priority = 1, mode = "blocking")]
fn render_blocking(render: &Render) {
    assert_eq!(render.frames, 24);
    // Makes a publish_async that did not wait for this call end first.
    thread::sleep(Duration::from_millis(50));
    RENDER_LOG
        .lock()
        .unwrap()
        .push(("blocking", thread::current().id()));
}

#[subscribe(priority = 0)]
fn render_inline(_: &Render) {
    RENDER_LOG
        .lock()
        .unwrap()
        .push(("inline", thread::current().id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_async_awaits_a_blocking_handler_run_on_another_thread() {
    let bus = Bus::new();
    let caller = thread::current().id();

    let report = bus.publish_async(Render { frames: 24 }).await;
    RENDER_LOG.lock().unwrap().push(("returned", caller));

    assert_eq!(report.handled(), 2);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    let log = RENDER_LOG.lock().unwrap().clone();
    let names: Vec<&str> = log.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, vec!["inline", "blocking", "returned"]);
    assert_eq!(log[0].1, caller);
    assert_ne!(log[1].1, caller);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Resize {
    width: u32,
}

static RESIZE_THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());
/// Closed until the test opens it, so the spawned call cannot have ended
/// when `publish` returns.
static RESIZE_GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

#[subscribe(mode = "blocking")]
fn resize_blocking(resize: &Resize) {
    assert_eq!(resize.width, 640);
    let (open, changed) = &RESIZE_GATE;
    let mut open = open.lock().unwrap();
    while !*open {
        open = changed.wait(open).unwrap();
    }
    RESIZE_THREADS.lock().unwrap().push(thread::current().id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_spawns_a_blocking_handler_and_idle_waits_for_it() {
    let bus = Bus::new();
    let caller = thread::current().id();

    let report = bus.publish(Resize { width: 640 });

    assert_eq!(report.handled(), 0);
    assert_eq!(report.scheduled(), 1);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert!(RESIZE_THREADS.lock().unwrap().is_empty());

    {
        let (open, changed) = &RESIZE_GATE;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
    bus.idle().await;

    let threads = RESIZE_THREADS.lock().unwrap().clone();
    assert_eq!(threads.len(), 1);
    assert_ne!(threads[0], caller);
}

// --- HandlerInfo::mode and kind ---------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Survey;

#[subscribe]
async fn survey_inline_async(_: &Survey) {}

#[test]
fn handler_info_tells_the_mode_and_kind_of_each_handler() {
    let bus = Bus::new();
    let cases = [
        ("modes::archive_inline", Mode::Inline, HandlerKind::Sync),
        (
            "modes::archive_bg_sync",
            Mode::Background,
            HandlerKind::Sync,
        ),
        (
            "modes::archive_bg_async",
            Mode::Background,
            HandlerKind::Async,
        ),
        ("modes::render_blocking", Mode::Blocking, HandlerKind::Sync),
        ("modes::resize_blocking", Mode::Blocking, HandlerKind::Sync),
        (
            "modes::survey_inline_async",
            Mode::Inline,
            HandlerKind::Async,
        ),
    ];
    for (name, mode, kind) in cases {
        let info = info(&bus, name);
        assert_eq!((info.mode(), info.kind()), (mode, kind), "{name}");
    }

    assert_eq!(Mode::Inline.to_string(), "inline");
    assert_eq!(Mode::Background.to_string(), "background");
    assert_eq!(Mode::Blocking.to_string(), "blocking");
    assert_eq!(HandlerKind::Sync.to_string(), "sync");
    assert_eq!(HandlerKind::Async.to_string(), "async");
    assert_eq!(Mode::default(), Mode::Inline);

    let render = info(&bus, "modes::render_blocking");
    assert_eq!(render.event_name(), "Render");
    assert_eq!(render.priority(), 1);
    assert_eq!(render.location().file(), "tests/modes.rs");
    assert_eq!(
        format!("{render:?}"),
        format!(
            "HandlerInfo {{ event_name: \"Render\", handler_name: \"modes::render_blocking\", \
             location: {}, priority: 1, kind: Sync, mode: Blocking, group: None, retry: 0, \
             timeout: None, publishes: [] }}",
            render.location()
        )
    );
}
