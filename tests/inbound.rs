//! Delivering to part of a bus: remote groups that a local publish leaves
//! to a broker, `deliver_to_group`, `deliver_to_handler`, and extensions
//! handed to the handlers of one delivery.

use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{Envelope, EventRecord, Extension, PublishError};
use serde::{Deserialize, Serialize};

/// The handlers that ran, in order.
static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn ran(what: impl Into<String>) {
    RAN.lock().unwrap().push(what.into());
}

fn take_ran() -> Vec<String> {
    std::mem::take(&mut *RAN.lock().unwrap())
}

/// Tests in this file share `RAN`: one at a time (a tokio lock,
/// held across the awaits of the async tests).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "inbound.order_placed")]
struct OrderPlaced {
    order: u32,
}

#[subscribe(priority = 10)]
fn reserve_stock(placed: &OrderPlaced) {
    ran(format!("reserve_stock {}", placed.order));
}

#[subscribe(group = "billing")]
fn charge(placed: &OrderPlaced) {
    ran(format!("charge {}", placed.order));
}

#[subscribe(group = "billing", priority = -1)]
async fn invoice(placed: &OrderPlaced) {
    ran(format!("invoice {}", placed.order));
}

#[subscribe(group = "mail")]
fn confirm(placed: &OrderPlaced) -> Result<(), String> {
    ran(format!("confirm {}", placed.order));
    Err("the mail server is down".into())
}

fn placed(order: u32) -> EventRecord {
    EventRecord::from_event(&OrderPlaced { order }, Envelope::generate()).unwrap()
}

#[tokio::test]
async fn a_local_publish_leaves_remote_groups_to_the_broker() {
    let _serial = SERIAL.lock().await;
    take_ran();
    let bus = Bus::builder()
        .groups(["mail"])
        .remote_groups(["billing"])
        .build()
        .unwrap();

    let report = bus.publish(OrderPlaced { order: 1 });
    assert_eq!(report.handled(), 2);
    assert_eq!(take_ran(), ["reserve_stock 1", "confirm 1"]);

    // A record from outside runs what a local publish runs.
    let report = bus.deliver(placed(2)).unwrap();
    assert_eq!(report.handled(), 2);
    assert_eq!(take_ran(), ["reserve_stock 2", "confirm 2"]);

    // The broker's consumer of the group runs the group, and only it.
    let report = bus
        .deliver_to_group_async(placed(3), "billing")
        .await
        .unwrap();
    assert_eq!((report.handled(), report.failures().len()), (2, 0));
    assert_eq!(take_ran(), ["charge 3", "invoice 3"]);

    // Every handler of the bus is listed, the remote ones too.
    let names: Vec<&str> = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "inbound.order_placed")
        .map(HandlerInfo::handler_name)
        .collect();
    assert_eq!(
        names,
        [
            "inbound::reserve_stock",
            "inbound::charge",
            "inbound::confirm",
            "inbound::invoice"
        ]
    );
}

#[test]
fn a_group_delivery_runs_a_local_group_too_and_reports_its_failures() {
    let _serial = SERIAL.blocking_lock();
    take_ran();
    let bus = Bus::builder().groups(["mail"]).build().unwrap();

    let report = bus.deliver_to_group(placed(4), "mail").unwrap();
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    assert_eq!(report.failures()[0].message(), "the mail server is down");
    assert_eq!(take_ran(), ["confirm 4"]);
}

#[test]
fn one_named_handler_runs_alone() {
    let _serial = SERIAL.blocking_lock();
    take_ran();
    let bus = Bus::builder().remote_groups(["mail"]).build().unwrap();

    let report = bus
        .deliver_to_handler(placed(5), "inbound::confirm")
        .unwrap();
    assert_eq!((report.handled(), report.failures().len()), (1, 1));
    let report = bus
        .deliver_to_handler(placed(6), "inbound::reserve_stock")
        .unwrap();
    assert_eq!((report.handled(), report.failures().len()), (1, 0));
    assert_eq!(take_ran(), ["confirm 5", "reserve_stock 6"]);
}

#[tokio::test]
async fn an_unknown_group_or_handler_is_an_error_that_lists_what_there_is() {
    let _serial = SERIAL.lock().await;
    take_ran();
    let bus = Bus::builder()
        .groups(["mail"])
        .remote_groups(["billing"])
        .build()
        .unwrap();

    let error = bus.deliver_to_group(placed(7), "biling").unwrap_err();
    assert_eq!(
        error.to_string(),
        "no handler of this bus is in the group `biling`; its groups are `billing`, `mail`"
    );
    let error = Bus::new()
        .deliver_to_group(placed(7), "billing")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no handler of this bus is in the group `billing`; it has no grouped handlers: add the \
         group to `BusBuilder::groups` or `BusBuilder::remote_groups`"
    );
    let error = bus
        .deliver_to_handler_async(placed(7), "inbound::confirn")
        .await
        .unwrap_err();
    assert!(matches!(error, PublishError::UnknownHandler { .. }));
    assert_eq!(
        error.to_string(),
        "this bus has no handler `inbound::confirn` (name a handler by its full path, as \
         `HandlerInfo::handler_name` gives it); did you mean `inbound::confirm`?"
    );
    let error = bus.deliver_to_handler(placed(7), "charge").unwrap_err();
    assert_eq!(
        error.to_string(),
        "this bus has no handler `charge` (name a handler by its full path, as \
         `HandlerInfo::handler_name` gives it); did you mean `inbound::charge`?"
    );
    assert_eq!(take_ran(), Vec::<String>::new());
}

// --- extensions ----------------------------------------------------------------

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "inbound.payment_received")]
struct PaymentReceived {
    cents: u64,
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "inbound.ledger_updated")]
struct LedgerUpdated {
    cents: u64,
}

/// What a transport might hand over: the transaction the delivery runs in.
#[derive(Clone, Debug, PartialEq)]
struct Transaction(u32);

#[subscribe]
fn book_payment(payment: &PaymentReceived, tx: Extension<Transaction>, ctx: &Context) {
    ran(format!("book {} in tx {}", payment.cents, tx.0 .0));
    ctx.publish(LedgerUpdated {
        cents: payment.cents,
    });
}

#[subscribe]
fn ledger_updated(updated: &LedgerUpdated, ctx: &Context) {
    let tx = ctx.extension::<Transaction>().map(|tx| tx.0);
    ran(format!("ledger {} in tx {tx:?}", updated.cents));
}

#[tokio::test]
async fn extensions_reach_the_handlers_and_their_follow_ups() {
    let _serial = SERIAL.lock().await;
    take_ran();
    let bus = Bus::new();
    let record =
        EventRecord::from_event(&PaymentReceived { cents: 500 }, Envelope::generate()).unwrap();

    let report = bus
        .inbound(record.clone())
        .extension(Transaction(41))
        .extension(Transaction(42))
        .deliver()
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    let report = bus
        .inbound(record.clone())
        .extension(Transaction(43))
        .deliver_async()
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        take_ran(),
        [
            "book 500 in tx 42",
            "ledger 500 in tx Some(42)",
            "book 500 in tx 43",
            "ledger 500 in tx Some(43)"
        ]
    );

    // Without one, the handler that takes it fails and says why; the
    // rest of the delivery goes on.
    let report = bus.deliver(record).unwrap();
    assert_eq!(report.failures().len(), 1);
    assert_eq!(
        report.failures()[0].message(),
        "no extension of type `inbound::Transaction` was handed to this delivery; hand one with \
         `bus.inbound(record).extension(..)`, or take `&Context` and read \
         `ctx.extension::<T>()`, which may be `None`"
    );
    assert_eq!(take_ran(), Vec::<String>::new());

    // A local publish has no extensions.
    let report = bus.publish(LedgerUpdated { cents: 1 });
    assert!(report.is_ok());
    assert_eq!(take_ran(), ["ledger 1 in tx None"]);
}
