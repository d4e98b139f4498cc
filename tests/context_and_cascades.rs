//! `Context`: the envelope of the event being handled, and follow-up events
//! published with `ctx.publish`, delivered breadth-first before the root
//! publish returns, with their lineage and failures; and the cascade limits
//! that stop event storms, whether they go through `ctx.publish` or through
//! `bus.publish` called inside a handler.

use eventbus::prelude::*;
use eventbus::{FailureKind, Origin, Uuid, DEFAULT_MAX_CASCADE_DEPTH, DEFAULT_MAX_CASCADE_EVENTS};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One handler call, as the handler saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    handler: &'static str,
    event: &'static str,
    depth: u32,
    id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    sequence: u64,
    origin: Origin,
}

impl Call {
    fn new(handler: &'static str, event: &'static str, ctx: &Context) -> Self {
        let envelope = ctx.envelope();
        Self {
            handler,
            event,
            depth: ctx.depth(),
            id: envelope.id,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            sequence: envelope.sequence,
            origin: envelope.origin,
        }
    }
}

// --- a chain: OrderPlaced -> PaymentCharged -> (EmailSent, InventoryUpdated) ----

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct PaymentCharged {
    order: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct EmailSent {
    order: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct InventoryUpdated {
    order: u32,
}

/// Calls of the chain's handlers, tagged with the order number so the sync
/// and the async test each read their own.
static CHAIN: Mutex<Vec<(u32, Call)>> = Mutex::new(Vec::new());

fn chain_call(order: u32, handler: &'static str, event: &'static str, ctx: &Context) {
    CHAIN
        .lock()
        .unwrap()
        .push((order, Call::new(handler, event, ctx)));
}

fn chain_calls(order: u32) -> Vec<Call> {
    CHAIN
        .lock()
        .unwrap()
        .iter()
        .filter(|(tag, _)| *tag == order)
        .map(|(_, call)| call.clone())
        .collect()
}

#[subscribe(priority = 1)]
fn charge_payment(order: &OrderPlaced, ctx: &Context) {
    chain_call(order.order, "charge_payment", "OrderPlaced", ctx);
    ctx.publish(PaymentCharged { order: order.order });
}

#[subscribe(priority = 0)]
fn reserve_stock(order: &OrderPlaced, ctx: &Context) {
    chain_call(order.order, "reserve_stock", "OrderPlaced", ctx);
}

#[subscribe(priority = 1)]
fn send_receipt(payment: &PaymentCharged, ctx: &Context) {
    chain_call(payment.order, "send_receipt", "PaymentCharged", ctx);
    ctx.publish(EmailSent {
        order: payment.order,
    });
}

#[subscribe(priority = 0)]
fn update_stock(payment: &PaymentCharged, ctx: &Context) {
    chain_call(payment.order, "update_stock", "PaymentCharged", ctx);
    ctx.publish(InventoryUpdated {
        order: payment.order,
    });
}

#[subscribe]
fn log_email(email: &EmailSent, ctx: &Context) {
    chain_call(email.order, "log_email", "EmailSent", ctx);
}

#[subscribe]
fn log_inventory(update: &InventoryUpdated, ctx: &Context) {
    chain_call(update.order, "log_inventory", "InventoryUpdated", ctx);
}

/// Checks the six calls of one chain and the root's report.
fn assert_chain(calls: &[Call], report: &Report) {
    let handlers: Vec<&str> = calls.iter().map(|call| call.handler).collect();
    // Breadth-first: both level-2 events come after every level-1 handler.
    assert_eq!(
        handlers,
        vec![
            "charge_payment",
            "reserve_stock",
            "send_receipt",
            "update_stock",
            "log_email",
            "log_inventory",
        ]
    );
    let events: Vec<&str> = calls.iter().map(|call| call.event).collect();
    assert_eq!(
        events,
        vec![
            "OrderPlaced",
            "OrderPlaced",
            "PaymentCharged",
            "PaymentCharged",
            "EmailSent",
            "InventoryUpdated",
        ]
    );
    let depths: Vec<u32> = calls.iter().map(|call| call.depth).collect();
    assert_eq!(depths, vec![0, 0, 1, 1, 2, 2]);
    // A fresh bus numbers its envelopes from 1, in delivery order.
    let sequences: Vec<u64> = calls.iter().map(|call| call.sequence).collect();
    assert_eq!(sequences, vec![1, 1, 2, 2, 3, 4]);
    assert!(calls.iter().all(|call| call.origin == Origin::Local));

    let (order, payment, email, inventory) = (&calls[0], &calls[2], &calls[4], &calls[5]);
    // Handlers of one event see one envelope.
    assert_eq!(
        calls[1],
        Call {
            handler: "reserve_stock",
            ..order.clone()
        }
    );
    assert_eq!(
        calls[3],
        Call {
            handler: "update_stock",
            ..payment.clone()
        }
    );

    let root = order.id;
    assert_eq!(report.event_id(), root);
    assert_eq!(order.correlation_id, root);
    assert_eq!(order.causation_id, None);
    assert!(calls.iter().all(|call| call.correlation_id == root));
    assert_eq!(payment.causation_id, Some(root));
    assert_eq!(email.causation_id, Some(payment.id));
    assert_eq!(inventory.causation_id, Some(payment.id));

    let mut ids = vec![order.id, payment.id, email.id, inventory.id];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);

    // Only the root's own two handlers are counted.
    assert_eq!(report.handled(), 2);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    assert_eq!(report.event_name(), "OrderPlaced");
}

#[test]
fn publish_delivers_the_chain_breadth_first_before_it_returns() {
    let report = Bus::new().publish(OrderPlaced { order: 1 });
    assert_chain(&chain_calls(1), &report);
}

#[tokio::test]
async fn publish_async_delivers_the_chain_breadth_first_before_it_resolves() {
    let report = Bus::new().publish_async(OrderPlaced { order: 2 }).await;
    assert_chain(&chain_calls(2), &report);
}

// --- follow-ups of async handlers -------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Deploy;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct DeployLogged;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Deployed;

static DEPLOY_START: Mutex<Option<Instant>> = Mutex::new(None);
static DEPLOY_LOG: Mutex<Vec<(Call, Duration)>> = Mutex::new(Vec::new());

fn deploy_call(handler: &'static str, event: &'static str, ctx: &Context) {
    let start = DEPLOY_START
        .lock()
        .unwrap()
        .expect("the test sets the start");
    DEPLOY_LOG
        .lock()
        .unwrap()
        .push((Call::new(handler, event, ctx), start.elapsed()));
}

#[subscribe(priority = 1)]
async fn deploy_async(_: &Deploy, ctx: &Context) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    deploy_call("deploy_async", "Deploy", ctx);
    ctx.publish(Deployed);
}

#[subscribe(priority = 0)]
fn deploy_sync(_: &Deploy, ctx: &Context) {
    deploy_call("deploy_sync", "Deploy", ctx);
    ctx.publish(DeployLogged);
}

#[subscribe]
fn deploy_logged(_: &DeployLogged, ctx: &Context) {
    deploy_call("deploy_logged", "DeployLogged", ctx);
}

#[subscribe]
async fn deployed(_: &Deployed, ctx: &Context) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    deploy_call("deployed", "Deployed", ctx);
}

#[tokio::test(start_paused = true)]
async fn publish_async_delivers_follow_ups_of_async_handlers_before_it_resolves() {
    let bus = Bus::new();
    let start = Instant::now();
    *DEPLOY_START.lock().unwrap() = Some(start);

    let report = bus.publish_async(Deploy).await;

    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let log = DEPLOY_LOG.lock().unwrap().clone();
    let seen: Vec<(&str, u32, u64, Duration)> = log
        .iter()
        .map(|(call, at)| (call.handler, call.depth, call.sequence, *at))
        .collect();
    // Follow-ups wait for every handler of their parent, the async one
    // included; those of the inline handlers come first.
    assert_eq!(
        seen,
        vec![
            ("deploy_sync", 0, 1, Duration::ZERO),
            ("deploy_async", 0, 1, Duration::from_secs(1)),
            ("deploy_logged", 1, 2, Duration::from_secs(1)),
            ("deployed", 1, 3, Duration::from_secs(2)),
        ]
    );
    let root = log[0].0.id;
    assert_eq!(log[1].0.id, root);
    assert_eq!(report.event_id(), root);
    assert_eq!(log[2].0.causation_id, Some(root));
    assert_eq!(log[3].0.causation_id, Some(root));
    assert!(log.iter().all(|(call, _)| call.correlation_id == root));
    assert_eq!(report.handled(), 2);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
}

// --- failures of follow-ups appear in the root's report ----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Shipment;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct ShipmentLabelled;

static LABEL_IDS: Mutex<Vec<Uuid>> = Mutex::new(Vec::new());

#[subscribe]
fn ship(_: &Shipment, ctx: &Context) {
    ctx.publish(ShipmentLabelled);
}

#[subscribe]
fn print_label(_: &ShipmentLabelled, ctx: &Context) -> Result<(), String> {
    LABEL_IDS.lock().unwrap().push(ctx.envelope().id);
    Err("printer jammed".to_owned())
}

fn assert_follow_up_failure(report: &Report, follow_up_id: Uuid) {
    assert_eq!(report.handled(), 1);
    assert_eq!(report.event_name(), "Shipment");
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.event_name(), "ShipmentLabelled");
    assert_eq!(failure.event_id(), follow_up_id);
    assert_ne!(failure.event_id(), report.event_id());
    assert_eq!(
        failure.handler().map(HandlerInfo::handler_name),
        Some("context_and_cascades::print_label")
    );
    assert_eq!(failure.message(), "printer jammed");
    assert_eq!(
        failure.to_string(),
        "handler context_and_cascades::print_label returned an error on ShipmentLabelled: printer jammed"
    );
}

#[tokio::test]
async fn failures_of_follow_ups_are_in_the_root_report() {
    let bus = Bus::new();

    let report = bus.publish(Shipment);
    let first = LABEL_IDS.lock().unwrap().clone();
    assert_eq!(first.len(), 1);
    assert_follow_up_failure(&report, first[0]);

    let report = bus.publish_async(Shipment).await;
    let both = LABEL_IDS.lock().unwrap().clone();
    assert_eq!(both.len(), 2);
    assert_follow_up_failure(&report, both[1]);
}

// --- storms stopped by max_cascade_depth ------------------------------------------

fn depth_message(event: &str, limit: u32) -> String {
    format!(
        "`{event}` was not delivered: the chain of events that led to it went deeper than the \
         cascade depth limit of {limit} (max_cascade_depth); a handler may be publishing in a loop"
    )
}

fn assert_depth_failure(report: &Report, event: &'static str, limit: u32) {
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::CascadeLimit);
    assert_eq!(failure.kind().to_string(), "hit the cascade limit");
    assert!(failure.handler().is_none());
    assert_eq!(failure.event_name(), event);
    assert_eq!(failure.attempts(), 0);
    assert!(failure.message().contains("cascade depth"));
    assert_eq!(failure.message(), depth_message(event, limit));
    assert_eq!(
        failure.to_string(),
        format!(
            "delivery of {event} failed: {}",
            depth_message(event, limit)
        )
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Echo;

static ECHO_DEPTHS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn echo(_: &Echo, ctx: &Context) {
    ECHO_DEPTHS.lock().unwrap().push(ctx.depth());
    ctx.publish(Echo);
}

#[tokio::test]
async fn a_storm_stops_at_max_cascade_depth() {
    let bus = Bus::builder().max_cascade_depth(5).build().unwrap();

    let report = bus.publish(Echo);
    // The root and five follow-ups; the sixth is refused.
    assert_eq!(*ECHO_DEPTHS.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_depth_failure(&report, "Echo", 5);

    ECHO_DEPTHS.lock().unwrap().clear();
    let report = bus.publish_async(Echo).await;
    assert_eq!(*ECHO_DEPTHS.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_depth_failure(&report, "Echo", 5);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct DefaultEcho;

static DEFAULT_ECHO_CALLS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn default_echo(_: &DefaultEcho, ctx: &Context) {
    DEFAULT_ECHO_CALLS.fetch_add(1, Ordering::SeqCst);
    ctx.publish(DefaultEcho);
}

#[test]
fn a_storm_stops_at_the_default_depth_of_64() {
    assert_eq!(DEFAULT_MAX_CASCADE_DEPTH, 64);
    let report = Bus::new().publish(DefaultEcho);
    assert_eq!(DEFAULT_ECHO_CALLS.load(Ordering::SeqCst), 65);
    assert_depth_failure(&report, "DefaultEcho", 64);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct AsyncEcho;

static ASYNC_ECHO_DEPTHS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
async fn async_echo(_: &AsyncEcho, ctx: &Context) {
    tokio::task::yield_now().await;
    ASYNC_ECHO_DEPTHS.lock().unwrap().push(ctx.depth());
    ctx.publish(AsyncEcho);
}

#[tokio::test]
async fn a_storm_of_an_async_handler_stops_at_max_cascade_depth() {
    let bus = Bus::builder().max_cascade_depth(5).build().unwrap();
    let report = bus.publish_async(AsyncEcho).await;
    assert_eq!(*ASYNC_ECHO_DEPTHS.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_depth_failure(&report, "AsyncEcho", 5);
}

// --- fan-out stopped by max_cascade_events -----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Split;

static SPLIT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn split(_: &Split, ctx: &Context) {
    SPLIT_CALLS.fetch_add(1, Ordering::SeqCst);
    ctx.publish(Split);
    ctx.publish(Split);
}

#[test]
fn a_fan_out_stops_at_max_cascade_events() {
    assert_eq!(DEFAULT_MAX_CASCADE_EVENTS, 10_000);
    let bus = Bus::builder().max_cascade_events(10).build().unwrap();

    let report = bus.publish(Split);

    // The root and ten follow-ups. Each delivery took one event from the
    // queue and added two: 2 + 10 were waiting when the limit hit.
    assert_eq!(SPLIT_CALLS.load(Ordering::SeqCst), 11);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::CascadeLimit);
    assert!(failure.handler().is_none());
    assert_eq!(failure.event_name(), "Split");
    assert!(failure.message().contains("max_cascade_events"));
    assert_eq!(
        failure.message(),
        "the chain of follow-up events was stopped after 10 events (max_cascade_events); \
         12 more were not delivered, starting with `Split`"
    );
}

// --- bus.publish inside a handler: a new root, but the same depth limit -------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Recurse;

static RECURSE_CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());
/// A failure as (kind, message).
type Failure = (FailureKind, String);

/// (depth of the handler, handled, failures) of a report a handler got
/// back from its nested publish.
type NestedReport = (u32, usize, Vec<Failure>);

/// The nested reports, innermost first.
static RECURSE_REPORTS: Mutex<Vec<NestedReport>> = Mutex::new(Vec::new());

fn failures_of(report: &Report) -> Vec<Failure> {
    report
        .failures()
        .iter()
        .map(|failure| (failure.kind(), failure.message().to_owned()))
        .collect()
}

#[subscribe]
fn recurse(_: &Recurse, ctx: &Context) {
    RECURSE_CALLS
        .lock()
        .unwrap()
        .push(Call::new("recurse", "Recurse", ctx));
    let report = ctx.bus().publish(Recurse);
    RECURSE_REPORTS
        .lock()
        .unwrap()
        .push((ctx.depth(), report.handled(), failures_of(&report)));
}

#[test]
fn bus_publish_in_a_handler_starts_a_new_root_within_the_depth_limit() {
    let bus = Bus::builder().max_cascade_depth(3).build().unwrap();

    let report = bus.publish(Recurse);

    let calls = RECURSE_CALLS.lock().unwrap().clone();
    let depths: Vec<u32> = calls.iter().map(|call| call.depth).collect();
    assert_eq!(depths, vec![0, 1, 2, 3]);
    let sequences: Vec<u64> = calls.iter().map(|call| call.sequence).collect();
    assert_eq!(sequences, vec![1, 2, 3, 4]);
    for call in &calls {
        // Each nested publish is a root of its own.
        assert_eq!(call.correlation_id, call.id);
        assert_eq!(call.causation_id, None);
    }
    let mut ids: Vec<Uuid> = calls.iter().map(|call| call.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(report.event_id(), calls[0].id);

    assert_eq!(
        *RECURSE_REPORTS.lock().unwrap(),
        vec![
            (
                3,
                0,
                vec![(FailureKind::CascadeLimit, depth_message("Recurse", 3))]
            ),
            (2, 1, vec![]),
            (1, 1, vec![]),
            (0, 1, vec![]),
        ]
    );
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct AsyncRecurse;

static ASYNC_RECURSE_REPORTS: Mutex<Vec<NestedReport>> = Mutex::new(Vec::new());

#[subscribe]
async fn async_recurse(_: &AsyncRecurse, ctx: &Context) {
    tokio::task::yield_now().await;
    let report = ctx.bus().publish_async(AsyncRecurse).await;
    ASYNC_RECURSE_REPORTS.lock().unwrap().push((
        ctx.depth(),
        report.handled(),
        failures_of(&report),
    ));
}

#[tokio::test]
async fn bus_publish_async_in_an_async_handler_counts_toward_the_depth_limit() {
    let bus = Bus::builder().max_cascade_depth(3).build().unwrap();

    let report = bus.publish_async(AsyncRecurse).await;

    assert_eq!(
        *ASYNC_RECURSE_REPORTS.lock().unwrap(),
        vec![
            (
                3,
                0,
                vec![(FailureKind::CascadeLimit, depth_message("AsyncRecurse", 3))]
            ),
            (2, 1, vec![]),
            (1, 1, vec![]),
            (0, 1, vec![]),
        ]
    );
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Spiral;

#[test]
fn recursion_through_a_plain_handler_is_stopped_the_same_way() {
    // No `&Context` anywhere: the publish takes the bus's plain path.
    let bus = Bus::builder().max_cascade_depth(3).build().unwrap();
    let reports = std::sync::Arc::new(Mutex::new(Vec::new()));
    let subscription = bus.subscribe({
        let bus = bus.clone();
        let reports = std::sync::Arc::clone(&reports);
        move |_: &Spiral| {
            let report = bus.publish(Spiral);
            reports
                .lock()
                .unwrap()
                .push((report.handled(), failures_of(&report)));
        }
    });

    let report = bus.publish(Spiral);
    drop(subscription);

    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(
        *reports.lock().unwrap(),
        vec![
            (
                0,
                vec![(FailureKind::CascadeLimit, depth_message("Spiral", 3))]
            ),
            (1, vec![]),
            (1, vec![]),
            (1, vec![]),
        ]
    );
}

// --- follow-ups of spawned handlers run in their own task ----------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Launch;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Landed;

static LANDED: Mutex<Vec<Call>> = Mutex::new(Vec::new());

#[subscribe(mode = "background")]
async fn fly(_: &Launch, ctx: &Context) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    ctx.publish(Landed);
}

#[subscribe]
fn land(_: &Landed, ctx: &Context) {
    LANDED
        .lock()
        .unwrap()
        .push(Call::new("land", "Landed", ctx));
}

#[tokio::test(start_paused = true)]
async fn follow_ups_of_a_background_handler_are_delivered_in_its_task() {
    let bus = Bus::new();
    let start = Instant::now();

    let report = bus.publish_async(Launch).await;

    assert_eq!(report.handled(), 0);
    assert_eq!(report.scheduled(), 1);
    assert!(report.is_ok());
    assert!(LANDED.lock().unwrap().is_empty());

    bus.idle().await;

    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let landed = LANDED.lock().unwrap().clone();
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].depth, 1);
    assert_eq!(landed[0].causation_id, Some(report.event_id()));
    assert_eq!(landed[0].correlation_id, report.event_id());
    assert_eq!(landed[0].sequence, 2);
}
