//! Dead letters: each event whose handler still failed after its retries
//! goes to the bus's `DeadLetters` sink, as JSON with the failure. A local
//! event keeps its name and failure without a payload; a follow-up stopped
//! by the cascade depth limit is a dead letter of its own.
//!
//! Each test builds its own bus with its own `MemoryDeadLetters` and
//! publishes its own event type.

use eventbus::prelude::*;
use eventbus::{DeadLetter, FailureKind, MemoryDeadLetters};

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use serde_json::json;

/// A bus whose dead letters go to the returned list.
///
/// The handlers with `retry = N` are in the group `retrying`: a bus that
/// selects one gets a retry layer around every handler, and the other tests
/// want buses without it.
fn bus_with_letters() -> (Bus, MemoryDeadLetters) {
    bus_of_groups(&[])
}

fn bus_of_groups(groups: &[&str]) -> (Bus, MemoryDeadLetters) {
    let letters = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .groups(groups.iter().copied())
        .dead_letters(letters.clone())
        .build()
        .unwrap();
    (bus, letters)
}

fn handler_name(letter: &DeadLetter) -> Option<&'static str> {
    letter.handler.as_ref().map(HandlerInfo::handler_name)
}

// --- a failing handler -------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.charge")]
struct Charge {
    order: u32,
    cents: u64,
    card: String,
}

#[subscribe]
fn charge_card(charge: &Charge) -> Result<(), String> {
    Err(format!("card {} declined", charge.card))
}

#[subscribe(priority = -1)]
fn log_charge(_: &Charge) {}

#[test]
fn a_failing_handler_leaves_the_event_as_json_with_its_failure() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Charge {
        order: 17,
        cents: 2_599,
        card: "4242".into(),
    });

    assert_eq!(report.handled(), 2);
    assert_eq!(report.failures().len(), 1);
    assert_eq!(letters.len(), 1);
    assert!(!letters.is_empty());
    let all = letters.take();
    assert!(letters.is_empty());
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.charge");
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(
        letter.payload,
        Some(json!({ "order": 17, "cents": 2599, "card": "4242" }))
    );
    assert_eq!(handler_name(letter), Some("dead_letters::charge_card"));
    assert_eq!(letter.kind, FailureKind::Error);
    assert_eq!(letter.message, "card 4242 declined");
    assert_eq!(letter.attempts, 1);
}

// --- an ok publish -----------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.refund")]
struct Refund {
    cents: u64,
}

#[subscribe]
fn refund(_: &Refund) -> Result<(), String> {
    Ok(())
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.nobody")]
struct Nobody;

#[test]
fn an_ok_publish_and_an_unhandled_one_leave_no_dead_letter() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Refund { cents: 100 });
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());

    let report = bus.publish(Nobody);
    assert!(report.is_dead());
    assert!(report.is_ok());

    assert!(letters.is_empty());
    assert_eq!(letters.len(), 0);
    assert_eq!(letters.letters(), Vec::new());
}

// --- a panicking handler -----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.resize")]
struct Resize {
    width: u32,
    height: u32,
}

#[subscribe]
fn resize_image(resize: &Resize) {
    panic!("cannot resize to {}x{}", resize.width, resize.height);
}

#[test]
fn a_panicking_handler_leaves_a_dead_letter() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Resize {
        width: 0,
        height: 9,
    });

    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.resize");
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(letter.payload, Some(json!({ "width": 0, "height": 9 })));
    assert_eq!(handler_name(letter), Some("dead_letters::resize_image"));
    assert_eq!(letter.kind, FailureKind::Panic);
    assert_eq!(letter.message, "cannot resize to 0x9");
    assert_eq!(letter.attempts, 1);
}

// --- only the final failure of a retried handler -----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.sync_ledger")]
struct SyncLedger {
    batch: u32,
}

static LEDGER_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2, group = "retrying")]
fn sync_ledger(_: &SyncLedger) -> Result<(), String> {
    let call = LEDGER_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Err(format!("ledger locked (call {call})"))
}

#[test]
fn a_retried_handler_leaves_one_dead_letter_after_its_last_attempt() {
    let (bus, letters) = bus_of_groups(&["retrying"]);

    let report = bus.publish(SyncLedger { batch: 8 });

    assert_eq!(LEDGER_CALLS.load(Ordering::SeqCst), 3);
    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(letter.payload, Some(json!({ "batch": 8 })));
    assert_eq!(handler_name(letter), Some("dead_letters::sync_ledger"));
    assert_eq!(letter.kind, FailureKind::Error);
    assert_eq!(letter.message, "ledger locked (call 3)");
    assert_eq!(letter.attempts, 3);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.warm_cache")]
struct WarmCache {
    keys: u32,
}

static WARM_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe(retry = 2, group = "retrying")]
fn warm_cache(_: &WarmCache) -> Result<(), String> {
    match WARM_CALLS.fetch_add(1, Ordering::SeqCst) + 1 {
        3 => Ok(()),
        call => Err(format!("cache cold (call {call})")),
    }
}

#[test]
fn a_handler_that_succeeds_on_a_retry_leaves_no_dead_letter() {
    let (bus, letters) = bus_of_groups(&["retrying"]);

    let report = bus.publish(WarmCache { keys: 40 });

    assert_eq!(WARM_CALLS.load(Ordering::SeqCst), 3);
    assert!(report.is_ok());
    assert_eq!(report.handled(), 1);
    assert!(letters.is_empty());
}

// --- a spawned async handler -------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.webhook")]
struct Webhook {
    url: String,
}

#[subscribe]
async fn post_webhook(hook: &Webhook) -> Result<(), String> {
    tokio::task::yield_now().await;
    Err(format!("{} answered 503", hook.url))
}

#[tokio::test]
async fn a_spawned_async_failure_leaves_a_dead_letter_once_the_bus_is_idle() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Webhook {
        url: "https://example.invalid/hook".into(),
    });
    assert_eq!(report.scheduled(), 1);
    bus.idle().await;

    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.webhook");
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(
        letter.payload,
        Some(json!({ "url": "https://example.invalid/hook" }))
    );
    assert_eq!(handler_name(letter), Some("dead_letters::post_webhook"));
    assert_eq!(letter.kind, FailureKind::Error);
    assert_eq!(letter.message, "https://example.invalid/hook answered 503");
    assert_eq!(letter.attempts, 1);
}

// --- a local event -----------------------------------------------------------

/// Holds an `Instant`, which has no JSON form: the event is local.
#[derive(Event, Debug)]
#[event(local, name = "dl.local_tick")]
struct LocalTick {
    at: Instant,
}

#[subscribe]
fn handle_tick(tick: &LocalTick) -> Result<(), String> {
    let _ = tick.at;
    Err("tick came too late".into())
}

#[test]
fn a_local_event_leaves_a_dead_letter_without_payload() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(LocalTick { at: Instant::now() });

    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.local_tick");
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(letter.payload, None);
    assert_eq!(handler_name(letter), Some("dead_letters::handle_tick"));
    assert_eq!(letter.kind, FailureKind::Error);
    assert_eq!(letter.message, "tick came too late");
    assert_eq!(letter.attempts, 1);
}

// --- a follow-up stopped by the cascade depth limit --------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.chain")]
struct Chain {
    step: u32,
}

static CHAIN_STEPS: AtomicU32 = AtomicU32::new(0);

#[subscribe]
fn next_step(chain: &Chain, ctx: &Context) {
    CHAIN_STEPS.fetch_add(1, Ordering::SeqCst);
    ctx.publish(Chain {
        step: chain.step + 1,
    });
}

const CHAIN_LIMIT_MESSAGE: &str = "`dl.chain` was not delivered: the chain of events that led to \
     it went deeper than the cascade depth limit of 2 (max_cascade_depth); a handler may be \
     publishing in a loop";

#[test]
fn a_follow_up_past_the_cascade_depth_leaves_a_dead_letter() {
    let letters = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .dead_letters(letters.clone())
        .max_cascade_depth(2)
        .build()
        .unwrap();

    let report = bus.publish(Chain { step: 0 });

    // Steps 0, 1 and 2 are delivered; step 3 would be at depth 3.
    assert_eq!(CHAIN_STEPS.load(Ordering::SeqCst), 3);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    assert_eq!(report.failures()[0].kind(), FailureKind::CascadeLimit);

    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.chain");
    assert_eq!(letter.event_id, report.failures()[0].event_id());
    assert_ne!(letter.event_id, report.event_id());
    assert_eq!(letter.payload, Some(json!({ "step": 3 })));
    assert_eq!(letter.handler, None);
    assert_eq!(letter.kind, FailureKind::CascadeLimit);
    assert_eq!(letter.message, CHAIN_LIMIT_MESSAGE);
    assert_eq!(letter.attempts, 0);
}

// --- an emit loop stopped by the cascade depth limit -------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.echo")]
struct Echo {
    hop: u32,
}

static ECHO_HOPS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

#[subscribe]
fn echo_again(echo: &Echo, ctx: &Context) {
    ECHO_HOPS.lock().unwrap().push(echo.hop);
    ctx.bus()
        .try_emit(Echo { hop: echo.hop + 1 })
        .expect("the queue has room");
}

const ECHO_LIMIT_MESSAGE: &str = "`dl.echo` was not delivered: the chain of events that led to \
     it went deeper than the cascade depth limit of 2 (max_cascade_depth); a handler may be \
     publishing in a loop";

#[tokio::test]
async fn an_emit_past_the_cascade_depth_leaves_a_dead_letter_with_its_payload() {
    let letters = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .dead_letters(letters.clone())
        .max_cascade_depth(2)
        .build()
        .unwrap();

    bus.emit(Echo { hop: 0 }).await.unwrap();
    bus.idle().await;

    // Hops 0, 1 and 2 are delivered; hop 3 would be at depth 3.
    assert_eq!(*ECHO_HOPS.lock().unwrap(), vec![0, 1, 2]);
    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_name, "dl.echo");
    assert_eq!(letter.handler, None);
    assert_eq!(letter.kind, FailureKind::CascadeLimit);
    assert_eq!(letter.message, ECHO_LIMIT_MESSAGE);
    assert_eq!(letter.attempts, 0);
    // A non-local event's dead letter keeps the event, as for a follow-up
    // published with `ctx.publish`.
    assert_eq!(letter.payload, Some(json!({ "hop": 3 })));
}

// --- Display -----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.print")]
struct Print {
    pages: u32,
}

#[subscribe(retry = 1, group = "retrying")]
fn print_pages(print: &Print) -> Result<(), String> {
    Err(format!("printer jammed on page {}", print.pages))
}

#[test]
fn a_dead_letter_of_a_handler_displays_the_handler_and_attempts() {
    let (bus, letters) = bus_of_groups(&["retrying"]);

    let report = bus.publish(Print { pages: 12 });

    let all = letters.letters();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].to_string(),
        format!(
            "dl.print {} failed in dead_letters::print_pages after 2 attempt(s): \
             printer jammed on page 12",
            report.event_id()
        )
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dl.after_close")]
struct AfterClose {
    order: u32,
}

#[subscribe]
fn take_after_close(_: &AfterClose) {}

#[tokio::test]
async fn a_dead_letter_of_a_refused_publish_displays_why_it_was_not_delivered() {
    let (bus, letters) = bus_with_letters();
    bus.shutdown().await;

    let report = bus.publish(AfterClose { order: 3 });

    assert_eq!(report.failures().len(), 1);
    let all = letters.letters();
    assert_eq!(all.len(), 1);
    let letter = &all[0];
    assert_eq!(letter.event_id, report.event_id());
    assert_eq!(letter.payload, Some(json!({ "order": 3 })));
    assert_eq!(letter.handler, None);
    assert_eq!(letter.kind, FailureKind::ShutDown);
    assert_eq!(letter.attempts, 0);
    assert_eq!(
        letter.to_string(),
        format!(
            "dl.after_close {}: `dl.after_close` was not delivered: the bus is shut down",
            report.event_id()
        )
    );
}
