//! `BusBuilder::on_error` is called exactly once with each final failure,
//! wherever the failure happens: a sync handler's `Err` or panic, the last
//! attempt of a retried handler, a spawned async handler, a queued event,
//! a follow-up event, and a publish the shut-down bus refused.
//!
//! Each test builds its own bus with its own hook, and publishes its own
//! event type, so the tests never see each other's failures.

use eventbus::prelude::*;
use eventbus::{FailureKind, Uuid};

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// What the hook saw of one failure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    handler: Option<&'static str>,
    kind: FailureKind,
    event_name: &'static str,
    event_id: Uuid,
    message: String,
    attempts: u32,
}

impl Seen {
    fn of(failure: &HandlerFailure) -> Self {
        Self {
            handler: failure.handler().map(HandlerInfo::handler_name),
            kind: failure.kind(),
            event_name: failure.event_name(),
            event_id: failure.event_id(),
            message: failure.message().to_owned(),
            attempts: failure.attempts(),
        }
    }
}

/// A builder whose `on_error` hook keeps what it is given.
fn watched() -> (BusBuilder, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let builder = Bus::builder().on_error(move |failure| {
        sink.lock().unwrap().push(Seen::of(failure));
    });
    (builder, seen)
}

fn seen_by(hook: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    hook.lock().unwrap().clone()
}

fn reported(report: &Report) -> Vec<Seen> {
    report.failures().iter().map(Seen::of).collect()
}

// --- a sync handler returns Err ----------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.rejected")]
struct Rejected {
    sku: String,
}

static REJECTED_OK_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(priority = 1)]
fn reject_order(order: &Rejected) -> Result<(), String> {
    Err(format!("{} is out of stock", order.sku))
}

#[subscribe]
fn accept_order(_: &Rejected) {
    REJECTED_OK_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_sync_error_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish(Rejected { sku: "A-7".into() });

    assert_eq!(report.handled(), 2);
    assert_eq!(REJECTED_OK_CALLS.load(Ordering::SeqCst), 1);
    let expected = vec![Seen {
        handler: Some("on_error::reject_order"),
        kind: FailureKind::Error,
        event_name: "on_error.rejected",
        event_id: report.event_id(),
        message: "A-7 is out of stock".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- a sync handler panics ---------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.crashed")]
struct Crashed {
    disk: u32,
}

#[subscribe]
fn crash(crashed: &Crashed) {
    panic!("disk {} on fire", crashed.disk);
}

#[test]
fn a_panic_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish(Crashed { disk: 2 });

    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::crash"),
        kind: FailureKind::Panic,
        event_name: "on_error.crashed",
        event_id: report.event_id(),
        message: "disk 2 on fire".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- a retried handler that always fails -------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.flaky")]
struct Flaky {
    attempt_limit: u32,
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

// In a group: a bus that selects a handler with `retry` gets a retry layer
// around every handler, and the other tests here want buses without one.
#[subscribe(retry = 2, group = "retrying")]
fn gateway_down(_: &Flaky) -> Result<(), String> {
    let call = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Err(format!("gateway down (call {call})"))
}

#[test]
fn a_retried_handler_reaches_the_hook_once_after_its_last_attempt() {
    let (builder, hook) = watched();
    let bus = builder.groups(["retrying"]).build().unwrap();

    let report = bus.publish(Flaky { attempt_limit: 3 });

    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::gateway_down"),
        kind: FailureKind::Error,
        event_name: "on_error.flaky",
        event_id: report.event_id(),
        message: "gateway down (call 3)".into(),
        attempts: 3,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- a retried async handler that always fails -------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.flaky_async")]
struct FlakyAsync {
    region: String,
}

static FLAKY_ASYNC_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2, group = "retrying")]
async fn region_down(flaky: &FlakyAsync) -> Result<(), String> {
    let call = FLAKY_ASYNC_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Err(format!("{} down (call {call})", flaky.region))
}

// Paused: the backoff between async attempts passes at once.
#[tokio::test(start_paused = true)]
async fn a_retried_async_handler_reaches_the_hook_once_after_its_last_attempt() {
    let (builder, hook) = watched();
    let bus = builder.groups(["retrying"]).build().unwrap();

    let report = bus
        .publish_async(FlakyAsync {
            region: "eu-west".into(),
        })
        .await;

    assert_eq!(FLAKY_ASYNC_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::region_down"),
        kind: FailureKind::Error,
        event_name: "on_error.flaky_async",
        event_id: report.event_id(),
        message: "eu-west down (call 3)".into(),
        attempts: 3,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- an async handler that runs out of time ----------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.slow_report")]
struct SlowReport {
    rows: u32,
}

// In a group for the same reason as `gateway_down`: `timeout_ms` adds a
// timeout layer to the bus.
#[subscribe(timeout_ms = 50, group = "timing")]
async fn build_report(_: &SlowReport) {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_handler_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.groups(["timing"]).build().unwrap();

    let report = bus.publish_async(SlowReport { rows: 9 }).await;

    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::build_report"),
        kind: FailureKind::Timeout,
        event_name: "on_error.slow_report",
        event_id: report.event_id(),
        message: "did not finish within its time limit of 50 ms and was cancelled".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- a blocking handler fails ------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.thumbnail")]
struct Thumbnail {
    image: String,
}

#[subscribe(mode = "blocking")]
fn render_thumbnail(thumbnail: &Thumbnail) -> Result<(), String> {
    Err(format!("{} is not an image", thumbnail.image))
}

#[tokio::test]
async fn a_blocking_failure_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus
        .publish_async(Thumbnail {
            image: "notes.txt".into(),
        })
        .await;

    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::render_thumbnail"),
        kind: FailureKind::Error,
        event_name: "on_error.thumbnail",
        event_id: report.event_id(),
        message: "notes.txt is not an image".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
    bus.idle().await;
    assert_eq!(seen_by(&hook), expected);
}

// --- an async handler awaited by publish_async -------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.awaited")]
struct Awaited {
    page: u32,
}

#[subscribe]
async fn render_page(awaited: &Awaited) -> Result<(), String> {
    tokio::task::yield_now().await;
    Err(format!("page {} has no template", awaited.page))
}

#[tokio::test]
async fn an_awaited_async_failure_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish_async(Awaited { page: 4 }).await;

    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 0);
    let expected = vec![Seen {
        handler: Some("on_error::render_page"),
        kind: FailureKind::Error,
        event_name: "on_error.awaited",
        event_id: report.event_id(),
        message: "page 4 has no template".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
    bus.idle().await;
    assert_eq!(seen_by(&hook), expected);
}

// --- an async handler spawned by publish -------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.late_notice")]
struct LateNotice {
    to: String,
}

#[subscribe]
async fn mail_notice(notice: &LateNotice) -> Result<(), String> {
    tokio::task::yield_now().await;
    Err(format!("smtp refused {}", notice.to))
}

#[tokio::test]
async fn a_spawned_async_failure_reaches_the_hook_once_the_bus_is_idle() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish(LateNotice {
        to: "ada@example.com".into(),
    });
    // The call was spawned: the caller's report cannot hold its failure.
    assert_eq!(report.scheduled(), 1);
    assert_eq!(report.handled(), 0);
    assert!(report.is_ok());

    bus.idle().await;

    assert_eq!(
        seen_by(&hook),
        vec![Seen {
            handler: Some("on_error::mail_notice"),
            kind: FailureKind::Error,
            event_name: "on_error.late_notice",
            event_id: report.event_id(),
            message: "smtp refused ada@example.com".into(),
            attempts: 1,
        }]
    );
}

// --- an event delivered through the queue ------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.queued_job")]
struct QueuedJob {
    job: u32,
}

/// The envelope id of each `QueuedJob` delivered.
static QUEUED_IDS: Mutex<Vec<Uuid>> = Mutex::new(Vec::new());

#[subscribe]
fn run_job(job: &QueuedJob, ctx: &Context) -> Result<(), String> {
    QUEUED_IDS.lock().unwrap().push(ctx.envelope().id);
    Err(format!("job {} has no worker", job.job))
}

#[tokio::test]
async fn a_queued_failure_reaches_the_hook_once_the_bus_is_idle() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    bus.emit(QueuedJob { job: 11 }).await.unwrap();
    bus.idle().await;

    let ids = QUEUED_IDS.lock().unwrap().clone();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        seen_by(&hook),
        vec![Seen {
            handler: Some("on_error::run_job"),
            kind: FailureKind::Error,
            event_name: "on_error.queued_job",
            event_id: ids[0],
            message: "job 11 has no worker".into(),
            attempts: 1,
        }]
    );
}

// --- a follow-up event's failure ---------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.shipped")]
struct Shipped {
    parcel: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.tracking_requested")]
struct TrackingRequested {
    parcel: u32,
}

#[subscribe]
fn request_tracking(shipped: &Shipped, ctx: &Context) {
    ctx.publish(TrackingRequested {
        parcel: shipped.parcel,
    });
}

/// `(id, causation id)` of each `TrackingRequested` delivered.
static TRACKING_ENVELOPES: Mutex<Vec<(Uuid, Option<Uuid>)>> = Mutex::new(Vec::new());

#[subscribe]
fn track_parcel(request: &TrackingRequested, ctx: &Context) -> Result<(), String> {
    let envelope = ctx.envelope();
    TRACKING_ENVELOPES
        .lock()
        .unwrap()
        .push((envelope.id, envelope.causation_id));
    Err(format!("no carrier for parcel {}", request.parcel))
}

#[test]
fn a_follow_up_failure_reaches_the_hook_once_under_the_follow_up() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish(Shipped { parcel: 31 });

    let envelopes = TRACKING_ENVELOPES.lock().unwrap().clone();
    assert_eq!(envelopes.len(), 1);
    let (follow_up_id, causation) = envelopes[0];
    assert_eq!(causation, Some(report.event_id()));
    assert_ne!(follow_up_id, report.event_id());

    assert_eq!(report.handled(), 1);
    let expected = vec![Seen {
        handler: Some("on_error::track_parcel"),
        kind: FailureKind::Error,
        event_name: "on_error.tracking_requested",
        event_id: follow_up_id,
        message: "no carrier for parcel 31".into(),
        attempts: 1,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- a follow-up of a spawned handler fails ----------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.uploaded")]
struct Uploaded {
    file: String,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.scan_requested")]
struct ScanRequested {
    file: String,
}

#[subscribe]
async fn request_scan(uploaded: &Uploaded, ctx: &Context) {
    tokio::task::yield_now().await;
    ctx.publish(ScanRequested {
        file: uploaded.file.clone(),
    });
}

/// `(id, causation id)` of each `ScanRequested` delivered.
static SCAN_ENVELOPES: Mutex<Vec<(Uuid, Option<Uuid>)>> = Mutex::new(Vec::new());

#[subscribe]
fn scan_file(scan: &ScanRequested, ctx: &Context) -> Result<(), String> {
    let envelope = ctx.envelope();
    SCAN_ENVELOPES
        .lock()
        .unwrap()
        .push((envelope.id, envelope.causation_id));
    Err(format!("scanner offline for {}", scan.file))
}

#[tokio::test]
async fn a_failing_follow_up_of_a_spawned_handler_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let report = bus.publish(Uploaded {
        file: "cv.pdf".into(),
    });
    assert_eq!(report.scheduled(), 1);
    assert!(report.is_ok());
    bus.idle().await;

    let envelopes = SCAN_ENVELOPES.lock().unwrap().clone();
    assert_eq!(envelopes.len(), 1);
    let (follow_up_id, causation) = envelopes[0];
    assert_eq!(causation, Some(report.event_id()));
    assert_eq!(
        seen_by(&hook),
        vec![Seen {
            handler: Some("on_error::scan_file"),
            kind: FailureKind::Error,
            event_name: "on_error.scan_requested",
            event_id: follow_up_id,
            message: "scanner offline for cv.pdf".into(),
            attempts: 1,
        }]
    );
}

// --- a publish refused by a shut-down bus ------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.late_order")]
struct LateOrder {
    order: u32,
}

static LATE_ORDER_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe]
fn take_late_order(_: &LateOrder) {
    LATE_ORDER_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test]
async fn a_refusal_of_the_shut_down_bus_reaches_the_hook_once() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();
    bus.shutdown().await;

    let report = bus.publish(LateOrder { order: 5 });

    assert_eq!(LATE_ORDER_CALLS.load(Ordering::SeqCst), 0);
    assert_eq!(report.handled(), 0);
    let expected = vec![Seen {
        handler: None,
        kind: FailureKind::ShutDown,
        event_name: "on_error.late_order",
        event_id: report.event_id(),
        message: "`on_error.late_order` was not delivered: the bus is shut down".into(),
        attempts: 0,
    }];
    assert_eq!(seen_by(&hook), expected);
    assert_eq!(reported(&report), expected);
}

// --- nothing for a publish without failures ----------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.fine")]
struct Fine;

#[subscribe]
fn all_fine(_: &Fine) {}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "on_error.unheard")]
struct Unheard;

#[test]
fn successful_and_unhandled_publishes_do_not_call_the_hook() {
    let (builder, hook) = watched();
    let bus = builder.build().unwrap();

    let fine = bus.publish(Fine);
    let unheard = bus.publish(Unheard);

    assert_eq!(fine.handled(), 1);
    assert!(fine.is_ok());
    assert!(unheard.is_dead());
    assert!(unheard.is_ok());
    assert_eq!(seen_by(&hook), Vec::new());
}
