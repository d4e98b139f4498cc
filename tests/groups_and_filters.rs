//! Groups and filters choose which handlers run.
//!
//! A handler with `group = ".."` runs only on buses built with
//! `.groups([..])` naming its group; handlers without a group run on every
//! bus. A handler with `filter = path` is called only for events its filter
//! accepts: a skipped call is neither handled nor failed, and an event whose
//! every handler skipped it is dead.

use eventbus::prelude::*;

use std::sync::Mutex;

// --- groups ------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "groups.invoice")]
struct Invoice {
    number: u32,
}

static INVOICE_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(group = "billing")]
fn charge_card(_: &Invoice) {
    INVOICE_RAN.lock().unwrap().push("charge_card");
}

#[subscribe(group = "shipping")]
fn book_parcel(_: &Invoice) {
    INVOICE_RAN.lock().unwrap().push("book_parcel");
}

#[subscribe]
fn log_invoice(_: &Invoice) {
    INVOICE_RAN.lock().unwrap().push("log_invoice");
}

/// Publishes one invoice on `bus`: how many handlers it counted, and which
/// ran, in order.
fn run_invoice(bus: &Bus) -> (usize, Vec<&'static str>) {
    INVOICE_RAN.lock().unwrap().clear();
    let report = bus.publish(Invoice { number: 1 });
    assert!(report.is_ok());
    let ran = std::mem::take(&mut *INVOICE_RAN.lock().unwrap());
    (report.handled(), ran)
}

/// The invoice handlers of `bus`: `(name, group)`, in dispatch order.
fn invoice_handlers(bus: &Bus) -> Vec<(&'static str, Option<&'static str>)> {
    bus.handlers()
        .iter()
        .filter(|info| info.event_name() == "groups.invoice")
        .map(|info| (info.handler_name(), info.group()))
        .collect()
}

const CHARGE: (&str, Option<&str>) = ("groups_and_filters::charge_card", Some("billing"));
const BOOK: (&str, Option<&str>) = ("groups_and_filters::book_parcel", Some("shipping"));
const LOG: (&str, Option<&str>) = ("groups_and_filters::log_invoice", None);

// The only test that publishes `Invoice`, so `INVOICE_RAN` is its own.
#[test]
fn groups_select_which_handlers_run() {
    let plain = Bus::new();
    assert_eq!(run_invoice(&plain), (1, vec!["log_invoice"]));

    let billing = Bus::builder().groups(["billing"]).build().unwrap();
    assert_eq!(
        run_invoice(&billing),
        (2, vec!["charge_card", "log_invoice"])
    );

    let both = Bus::builder()
        .groups(["billing", "shipping"])
        .build()
        .unwrap();
    assert_eq!(
        run_invoice(&both),
        (3, vec!["charge_card", "book_parcel", "log_invoice"])
    );

    let unknown = Bus::builder().groups(["marketing"]).build().unwrap();
    assert_eq!(run_invoice(&unknown), (1, vec!["log_invoice"]));

    let none = Bus::builder().groups(Vec::<String>::new()).build().unwrap();
    assert_eq!(run_invoice(&none), (1, vec!["log_invoice"]));

    let without_shipping = Bus::builder()
        .groups(["billing", "shipping"])
        .filter_handlers(|info| info.group() != Some("shipping"))
        .build()
        .unwrap();
    assert_eq!(
        run_invoice(&without_shipping),
        (2, vec!["charge_card", "log_invoice"])
    );
}

#[test]
fn handlers_lists_only_the_selected_groups() {
    assert_eq!(invoice_handlers(&Bus::new()), vec![LOG]);
    assert_eq!(
        invoice_handlers(&Bus::builder().groups(["billing"]).build().unwrap()),
        vec![CHARGE, LOG]
    );
    assert_eq!(
        invoice_handlers(&Bus::builder().groups(["shipping"]).build().unwrap()),
        vec![BOOK, LOG]
    );
    assert_eq!(
        invoice_handlers(
            &Bus::builder()
                .groups(["shipping", "billing"])
                .build()
                .unwrap()
        ),
        vec![CHARGE, BOOK, LOG]
    );
}

#[test]
fn handler_info_names_the_group() {
    let bus = Bus::builder()
        .groups(["billing", "shipping"])
        .build()
        .unwrap();
    let groups: Vec<Option<&str>> = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "groups.invoice")
        .map(HandlerInfo::group)
        .collect();
    assert_eq!(groups, vec![Some("billing"), Some("shipping"), None]);
}

// --- filters -----------------------------------------------------------------

/// Events that carry an amount, so one filter serves several event types.
trait Priced {
    fn cents(&self) -> u64;
}

/// Accepts amounts of 100.00 and more.
fn only_large<E: Priced>(event: &E) -> bool {
    event.cents() >= 10_000
}

// --- a filter on a sync handler ----------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "filters.order")]
struct Order {
    cents: u64,
}

impl Priced for Order {
    fn cents(&self) -> u64 {
        self.cents
    }
}

static ORDER_RAN: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

/// Fails if it is ever called for a small order.
#[subscribe(filter = only_large, priority = 1)]
fn review_large_order(order: &Order) -> Result<(), String> {
    ORDER_RAN
        .lock()
        .unwrap()
        .push(("review_large_order", order.cents));
    if only_large(order) {
        Ok(())
    } else {
        Err(format!("called for a small order of {} cents", order.cents))
    }
}

#[subscribe]
fn confirm_order(order: &Order) {
    ORDER_RAN
        .lock()
        .unwrap()
        .push(("confirm_order", order.cents));
}

#[test]
fn a_filtered_sync_handler_runs_only_for_events_its_filter_accepts() {
    let bus = Bus::new();

    let small = bus.publish(Order { cents: 2_500 });
    assert_eq!(small.handled(), 1);
    assert!(small.is_ok());
    assert!(!small.is_dead());
    assert_eq!(
        std::mem::take(&mut *ORDER_RAN.lock().unwrap()),
        vec![("confirm_order", 2_500)]
    );

    let large = bus.publish(Order { cents: 25_000 });
    assert_eq!(large.handled(), 2);
    assert!(large.is_ok());
    assert_eq!(
        std::mem::take(&mut *ORDER_RAN.lock().unwrap()),
        vec![("review_large_order", 25_000), ("confirm_order", 25_000)]
    );
}

// --- a filter on an async handler --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "filters.refund")]
struct Refund {
    cents: u64,
}

impl Priced for Refund {
    fn cents(&self) -> u64 {
        self.cents
    }
}

static REFUND_RAN: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

/// Fails if it is ever called for a small refund.
#[subscribe(filter = only_large)]
async fn review_large_refund(refund: &Refund) -> Result<(), String> {
    tokio::task::yield_now().await;
    REFUND_RAN
        .lock()
        .unwrap()
        .push(("review_large_refund", refund.cents));
    if only_large(refund) {
        Ok(())
    } else {
        Err(format!(
            "called for a small refund of {} cents",
            refund.cents
        ))
    }
}

#[subscribe]
fn confirm_refund(refund: &Refund) {
    REFUND_RAN
        .lock()
        .unwrap()
        .push(("confirm_refund", refund.cents));
}

fn take_refunds() -> Vec<(&'static str, u64)> {
    std::mem::take(&mut *REFUND_RAN.lock().unwrap())
}

#[tokio::test]
async fn a_filtered_async_handler_runs_only_for_events_its_filter_accepts() {
    let bus = Bus::new();

    // Awaited by publish_async.
    let small = bus.publish_async(Refund { cents: 900 }).await;
    assert_eq!(small.handled(), 1);
    assert_eq!(small.scheduled(), 0);
    assert!(small.is_ok());
    assert_eq!(take_refunds(), vec![("confirm_refund", 900)]);

    let large = bus.publish_async(Refund { cents: 90_000 }).await;
    assert_eq!(large.handled(), 2);
    assert_eq!(large.scheduled(), 0);
    assert!(large.is_ok());
    assert_eq!(
        take_refunds(),
        vec![("confirm_refund", 90_000), ("review_large_refund", 90_000)]
    );

    // Spawned by publish: a skipped call is not scheduled either.
    let small = bus.publish(Refund { cents: 800 });
    assert_eq!(small.handled(), 1);
    assert_eq!(small.scheduled(), 0);
    assert!(small.is_ok());
    bus.idle().await;
    assert_eq!(take_refunds(), vec![("confirm_refund", 800)]);

    let large = bus.publish(Refund { cents: 80_000 });
    assert_eq!(large.handled(), 1);
    assert_eq!(large.scheduled(), 1);
    bus.idle().await;
    assert_eq!(
        take_refunds(),
        vec![("confirm_refund", 80_000), ("review_large_refund", 80_000)]
    );
}

// --- a filter on the only handler --------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "filters.alert")]
struct Alert {
    level: u8,
}

fn only_severe(alert: &Alert) -> bool {
    alert.level >= 3
}

static PAGED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[subscribe(filter = only_severe)]
fn page_on_call(alert: &Alert) {
    PAGED.lock().unwrap().push(alert.level);
}

#[test]
fn an_event_its_only_handler_filters_out_is_dead() {
    let bus = Bus::new();

    let quiet = bus.publish(Alert { level: 1 });
    assert!(quiet.is_dead());
    assert!(quiet.is_ok());
    assert_eq!(quiet.handled(), 0);
    assert_eq!(*PAGED.lock().unwrap(), Vec::<u8>::new());

    let severe = bus.publish(Alert { level: 4 });
    assert!(!severe.is_dead());
    assert!(severe.is_ok());
    assert_eq!(severe.handled(), 1);
    assert_eq!(*PAGED.lock().unwrap(), vec![4]);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "filters.async_alert")]
struct AsyncAlert {
    level: u8,
}

fn only_severe_async(alert: &AsyncAlert) -> bool {
    alert.level >= 3
}

static ASYNC_PAGED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[subscribe(filter = only_severe_async)]
async fn page_on_call_async(alert: &AsyncAlert) {
    ASYNC_PAGED.lock().unwrap().push(alert.level);
}

#[tokio::test]
async fn an_event_its_only_async_handler_filters_out_is_dead() {
    let bus = Bus::new();

    let quiet = bus.publish_async(AsyncAlert { level: 2 }).await;
    assert!(quiet.is_dead());
    assert!(quiet.is_ok());
    let quiet = bus.publish(AsyncAlert { level: 1 });
    assert!(quiet.is_dead());
    assert_eq!(quiet.scheduled(), 0);
    bus.idle().await;
    assert_eq!(*ASYNC_PAGED.lock().unwrap(), Vec::<u8>::new());

    let severe = bus.publish_async(AsyncAlert { level: 5 }).await;
    assert!(!severe.is_dead());
    assert_eq!(severe.handled(), 1);
    assert_eq!(*ASYNC_PAGED.lock().unwrap(), vec![5]);
}
