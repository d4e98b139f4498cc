//! Retries and time limits: `#[subscribe(retry = N, timeout_ms = N)]` work
//! without a layer added by hand (the bus adds one), `RetryLayer` and
//! `TimeoutLayer` set bus-wide defaults, async retries await an exponential
//! backoff, and a call past its limit is a `FailureKind::Timeout` failure.
//!
//! Timing claims use tokio's paused clock, so elapsed times are exact.

use eventbus::layer::{RetryLayer, RetryPolicy, TimedOut, TimeoutLayer};
use eventbus::prelude::*;
use eventbus::FailureKind;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

// --- sync retries: the bus adds the retry layer -----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Flaky;

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 3)]
fn flaky(_: &Flaky) -> Result<(), String> {
    let call = FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= 2 {
        return Err(format!("call {call} failed"));
    }
    Ok(())
}

#[test]
fn a_handler_that_fails_twice_then_succeeds_is_called_three_times_and_reported_ok() {
    let bus = Bus::new();

    let report = bus.publish(Flaky);

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.handled(), 1);
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Doomed;

static DOOMED_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2)]
fn doomed(_: &Doomed) -> Result<(), String> {
    let call = DOOMED_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Err(format!("call {call} failed"))
}

#[test]
fn a_handler_that_always_fails_is_tried_retry_plus_one_times_and_fails_once() {
    let bus = Bus::new();

    let report = bus.publish(Doomed);

    assert_eq!(DOOMED_CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.attempts(), 3);
    // The last attempt's error is the one reported.
    assert_eq!(failure.message(), "call 3 failed");
    assert_eq!(
        failure.to_string(),
        "handler retry_timeout::doomed returned an error on Doomed: call 3 failed"
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Shaky;

static SHAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 1)]
fn shaky(_: &Shaky) {
    let call = SHAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    panic!("shaky call {call} panicked");
}

#[test]
fn a_panicking_handler_is_retried_and_reported_as_a_panic() {
    let bus = Bus::new();

    let report = bus.publish(Shaky);

    assert_eq!(SHAKY_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(failure.message(), "shaky call 2 panicked");
    assert_eq!(failure.attempts(), 2);
}

// --- follow-ups of a failed attempt are discarded ---------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Drafted {
    /// The attempt that succeeds; 0 for none.
    succeed_on: u32,
}

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct DraftNote {
    attempt: u32,
}

static DRAFT_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
static DRAFT_NOTES: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe(retry = 2)]
fn draft(drafted: &Drafted, ctx: &Context) -> Result<(), String> {
    let attempt = DRAFT_ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    ctx.publish(DraftNote { attempt });
    if attempt == drafted.succeed_on {
        return Ok(());
    }
    Err(format!("attempt {attempt} failed"))
}

#[subscribe]
fn draft_note_seen(note: &DraftNote) {
    DRAFT_NOTES.lock().unwrap().push(note.attempt);
}

#[test]
fn follow_ups_published_by_a_failed_sync_attempt_are_discarded() {
    let bus = Bus::new();
    let notes = bus.record::<DraftNote>();

    let report = bus.publish(Drafted { succeed_on: 3 });

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(DRAFT_ATTEMPTS.swap(0, Ordering::SeqCst), 3);
    assert_eq!(notes.events(), [DraftNote { attempt: 3 }]);
    assert_eq!(std::mem::take(&mut *DRAFT_NOTES.lock().unwrap()), [3]);

    // No attempt succeeds: no follow-up at all.
    notes.clear();
    let report = bus.publish(Drafted { succeed_on: 0 });

    assert_eq!(report.failures().len(), 1, "{report:?}");
    assert_eq!(report.failures()[0].attempts(), 3);
    assert_eq!(report.failures()[0].message(), "attempt 3 failed");
    assert_eq!(DRAFT_ATTEMPTS.load(Ordering::SeqCst), 3);
    assert_eq!(notes.events(), []);
    assert_eq!(*DRAFT_NOTES.lock().unwrap(), [0_u32; 0]);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct DraftedAsync;

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct DraftAsyncNote {
    attempt: u32,
}

static DRAFT_ASYNC_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2)]
async fn draft_async(_: &DraftedAsync, ctx: &Context) -> Result<(), String> {
    let attempt = DRAFT_ASYNC_ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
    ctx.publish(DraftAsyncNote { attempt });
    tokio::task::yield_now().await;
    if attempt < 3 {
        return Err(format!("attempt {attempt} failed"));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn follow_ups_published_by_a_failed_async_attempt_are_discarded() {
    let bus = Bus::new();
    let notes = bus.record::<DraftAsyncNote>();

    let report = bus.publish_async(DraftedAsync).await;

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(DRAFT_ASYNC_ATTEMPTS.load(Ordering::SeqCst), 3);
    assert_eq!(notes.events(), [DraftAsyncNote { attempt: 3 }]);
}

// --- RetryLayer: a bus-wide policy ------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Polled;

static POLLED_PLAIN_CALLS: AtomicU32 = AtomicU32::new(0);
static POLLED_OWN_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe]
fn polled_plain(_: &Polled) -> Result<(), String> {
    POLLED_PLAIN_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("plain failed".to_owned())
}

#[subscribe(retry = 1)]
fn polled_own(_: &Polled) -> Result<(), String> {
    POLLED_OWN_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("own failed".to_owned())
}

/// Each failure's handler and attempts.
fn attempts(report: &Report) -> Vec<(&'static str, u32)> {
    report
        .failures()
        .iter()
        .map(|failure| {
            (
                failure.handler().map_or("-", HandlerInfo::handler_name),
                failure.attempts(),
            )
        })
        .collect()
}

#[test]
fn a_retry_layer_retries_handlers_without_their_own_retry_count() {
    let calls = || {
        (
            POLLED_PLAIN_CALLS.swap(0, Ordering::SeqCst),
            POLLED_OWN_CALLS.swap(0, Ordering::SeqCst),
        )
    };
    let bus = Bus::builder()
        .layer(RetryLayer::new(RetryPolicy::new(2).jitter(false)))
        .build()
        .unwrap();

    let report = bus.publish(Polled);

    // The policy's 2 for the plain handler; the handler's own 1 wins.
    assert_eq!(calls(), (3, 2));
    assert_eq!(
        attempts(&report),
        [
            ("retry_timeout::polled_plain", 3),
            ("retry_timeout::polled_own", 2)
        ]
    );

    // Without the layer, only the handler that asks is retried.
    let report = Bus::new().publish(Polled);

    assert_eq!(calls(), (1, 2));
    assert_eq!(
        attempts(&report),
        [
            ("retry_timeout::polled_plain", 1),
            ("retry_timeout::polled_own", 2)
        ]
    );
}

// --- async retries await the backoff ----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Backoff;

static BACKOFF_START: Mutex<Option<Instant>> = Mutex::new(None);
static BACKOFF_ATTEMPTS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

#[subscribe]
async fn backoff_handler(_: &Backoff) -> Result<(), String> {
    let start = BACKOFF_START
        .lock()
        .unwrap()
        .expect("the test sets the start");
    BACKOFF_ATTEMPTS.lock().unwrap().push(start.elapsed());
    Err("still failing".to_owned())
}

#[tokio::test(start_paused = true)]
async fn an_async_handler_awaits_an_exponential_backoff_between_attempts() {
    let bus = Bus::builder()
        .layer(RetryLayer::new(
            RetryPolicy::new(2)
                .initial_backoff(Duration::from_millis(100))
                .jitter(false),
        ))
        .build()
        .unwrap();
    let start = Instant::now();
    *BACKOFF_START.lock().unwrap() = Some(start);

    let report = bus.publish_async(Backoff).await;

    assert_eq!(start.elapsed(), 100 * MS + 200 * MS);
    assert_eq!(
        *BACKOFF_ATTEMPTS.lock().unwrap(),
        [Duration::ZERO, 100 * MS, 300 * MS]
    );
    assert_eq!(report.failures().len(), 1, "{report:?}");
    assert_eq!(report.failures()[0].attempts(), 3);
    assert_eq!(report.failures()[0].message(), "still failing");
}

#[test]
fn backoff_doubles_up_to_the_cap_without_jitter() {
    let policy = RetryPolicy::new(8).jitter(false);
    let waits: Vec<Duration> = (1..=8).map(|retry| policy.backoff(retry)).collect();
    assert_eq!(
        waits,
        [10, 20, 40, 80, 160, 320, 640, 1000].map(|ms| ms * MS)
    );
    assert_eq!(policy.backoff(100), Duration::from_secs(1));

    let capped = policy.max_backoff(50 * MS);
    let waits: Vec<Duration> = (1..=5).map(|retry| capped.backoff(retry)).collect();
    assert_eq!(waits, [10, 20, 40, 50, 50].map(|ms| ms * MS));

    let slow = RetryPolicy::new(3).initial_backoff(100 * MS).jitter(false);
    let waits: Vec<Duration> = (1..=3).map(|retry| slow.backoff(retry)).collect();
    assert_eq!(waits, [100, 200, 400].map(|ms| ms * MS));
}

#[test]
fn the_default_policy_retries_nothing_and_waits_10_ms_doubling_with_jitter() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.max_retries, 0);
    assert_eq!(policy.initial_backoff, 10 * MS);
    assert_eq!(policy.max_backoff, Duration::from_secs(1));
    assert!(policy.jitter);
    assert!(!policy.sleep_sync);
    assert_eq!(RetryLayer::default().policy(), &policy);
}

#[test]
fn jitter_draws_each_wait_between_half_and_all_of_it() {
    let jittered = RetryPolicy::new(8);
    let exact = jittered.jitter(false);
    for retry in 1..=8 {
        let full = exact.backoff(retry);
        let draws: BTreeSet<Duration> = (0..200).map(|_| jittered.backoff(retry)).collect();
        for wait in &draws {
            assert!(
                full / 2 <= *wait && *wait <= full,
                "retry {retry}: {wait:?} is outside [{:?}, {full:?}]",
                full / 2
            );
        }
        assert!(draws.len() > 1, "retry {retry}: every draw was {draws:?}");
    }
}

// --- time limits ------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stalled;

static STALLED_FINISHED: AtomicBool = AtomicBool::new(false);

#[subscribe(timeout_ms = 50)]
async fn stalled(_: &Stalled) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    STALLED_FINISHED.store(true, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn an_async_handler_past_its_time_limit_is_cancelled_and_reported_as_a_timeout() {
    let bus = Bus::new();
    let start = Instant::now();

    let report = bus.publish_async(Stalled).await;

    assert_eq!(start.elapsed(), 50 * MS);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Timeout);
    assert_eq!(failure.attempts(), 1);
    assert_eq!(
        failure.message(),
        "did not finish within its time limit of 50 ms and was cancelled"
    );
    assert_eq!(
        failure.to_string(),
        "handler retry_timeout::stalled timed out on Stalled: \
         did not finish within its time limit of 50 ms and was cancelled"
    );
    let timed_out = failure
        .error()
        .and_then(|error| error.downcast_ref::<TimedOut>())
        .expect("the error is a TimedOut");
    assert_eq!(timed_out.limit(), 50 * MS);

    // Cancelled: it does not go on after the limit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!STALLED_FINISHED.load(Ordering::SeqCst));
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Lagging;

static LAGGING_INLINE_DONE: AtomicBool = AtomicBool::new(false);

#[subscribe]
async fn lagging_unlimited(_: &Lagging) {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[subscribe(timeout_ms = 60)]
async fn lagging_own_limit(_: &Lagging) {
    tokio::time::sleep(Duration::from_millis(40)).await;
}

/// Inline sync handlers are not timed: it outlives the 20 ms default on
/// the real clock and is not reported.
#[subscribe]
fn lagging_inline(_: &Lagging) {
    std::thread::sleep(Duration::from_millis(30));
    LAGGING_INLINE_DONE.store(true, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_limits_async_handlers_without_a_limit_of_their_own() {
    let bus = Bus::builder()
        .layer(TimeoutLayer::new(20 * MS))
        .build()
        .unwrap();
    let start = Instant::now();

    let report = bus.publish_async(Lagging).await;

    // 20 ms for the unlimited one, 40 ms of its own 60 for the other.
    assert_eq!(start.elapsed(), 40 * MS);
    assert_eq!(report.handled(), 3);
    assert!(LAGGING_INLINE_DONE.load(Ordering::SeqCst));
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Timeout);
    assert_eq!(
        failure.to_string(),
        "handler retry_timeout::lagging_unlimited timed out on Lagging: \
         did not finish within its time limit of 20 ms and was cancelled"
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Hanging;

static HANGING_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 1, timeout_ms = 50)]
async fn hanging(_: &Hanging) {
    HANGING_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn each_attempt_of_a_retried_handler_has_its_own_time_limit() {
    let bus = Bus::new();
    let start = Instant::now();

    let report = bus.publish_async(Hanging).await;

    // Two attempts of 50 ms, with the default first backoff of 10 ms
    // (jittered: 5 to 10 ms) between them.
    let elapsed = start.elapsed();
    assert!((105 * MS..=110 * MS).contains(&elapsed), "took {elapsed:?}");
    assert_eq!(HANGING_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Timeout);
    assert_eq!(failure.attempts(), 2);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Grinding;

#[subscribe(mode = "blocking", timeout_ms = 50)]
fn grinding(_: &Grinding) {
    std::thread::sleep(Duration::from_millis(300));
}

// Real time: the handler sleeps on a thread of the blocking pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_handler_past_its_time_limit_is_abandoned_and_reported_as_a_timeout() {
    let bus = Bus::new();

    let report = bus.publish_async(Grinding).await;

    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Timeout);
    assert_eq!(
        failure.to_string(),
        "handler retry_timeout::grinding timed out on Grinding: \
         did not finish within its time limit of 50 ms and was cancelled"
    );
}
