//! `Bus::publish_json` decodes by registered name and publishes; a wrong
//! name, a local event or bad JSON is an error that says what was wrong,
//! and nothing is delivered then.

use eventbus::prelude::*;
use eventbus::PublishError;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

// --- success ---------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "json.order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

static ORDERS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

#[subscribe]
fn take_order(order: &OrderPlaced) {
    ORDERS
        .lock()
        .unwrap()
        .push((order.item.clone(), order.quantity));
}

#[test]
fn a_registered_name_is_decoded_and_published() {
    let bus = Bus::new();
    let report = bus
        .publish_json("json.order_placed", r#"{"item":"Book","quantity":3}"#)
        .expect("the name is registered and the JSON decodes");
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(report.event_name(), "json.order_placed");

    let report = bus
        .publish_json(
            "json.order_placed",
            r#" { "quantity": 1, "item": "Lamp" } "#,
        )
        .unwrap();
    assert_eq!(report.handled(), 1);

    assert_eq!(
        *ORDERS.lock().unwrap(),
        vec![("Book".to_owned(), 3), ("Lamp".to_owned(), 1)]
    );
}

// --- unknown names ------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "json.unknown_target")]
struct UnknownTarget;

static UNKNOWN_TARGET: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_unknown_target(_: &UnknownTarget) {
    UNKNOWN_TARGET.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn an_unknown_name_suggests_the_closest_registered_one() {
    let error = Bus::new()
        .publish_json("json.unknown_targt", "null")
        .expect_err("no event has that name");
    assert_eq!(
        error.to_string(),
        "no event type is registered under the name `json.unknown_targt`; \
         did you mean `json.unknown_target`?"
    );
    match error {
        PublishError::UnknownEvent { name, suggestions } => {
            assert_eq!(name, "json.unknown_targt");
            assert_eq!(suggestions, vec!["json.unknown_target"]);
        }
        other => panic!("expected UnknownEvent, got {other}"),
    }
    assert_eq!(UNKNOWN_TARGET.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unknown_name_far_from_every_registered_one_has_no_suggestion() {
    let error = Bus::new()
        .publish_json("zzz", "{}")
        .expect_err("no event has that name");
    assert_eq!(
        error.to_string(),
        "no event type is registered under the name `zzz`"
    );
    // `Debug` says the same, for `unwrap()` users.
    assert_eq!(
        format!("{error:?}"),
        "no event type is registered under the name `zzz`"
    );
}

#[test]
fn the_rust_type_name_is_not_an_event_name() {
    // `UnknownTarget` is registered as `json.unknown_target` only.
    let error = Bus::new()
        .publish_json("UnknownTarget", "null")
        .expect_err("only the event name is looked up");
    assert!(matches!(error, PublishError::UnknownEvent { .. }));
    assert_eq!(UNKNOWN_TARGET.load(Ordering::SeqCst), 0);
}

// --- bad JSON ------------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "json.restocked")]
struct Restocked {
    sku: String,
    count: u32,
}

static RESTOCKED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_restocked(_: &Restocked) {
    RESTOCKED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn json_that_does_not_decode_is_an_error_and_nothing_is_delivered() {
    let bus = Bus::new();

    let error = bus
        .publish_json("json.restocked", r#"{"sku":"A-1"}"#)
        .expect_err("`count` is missing");
    assert_eq!(
        error.to_string(),
        "the JSON for event `json.restocked` does not decode into `publish_json::Restocked`: \
         missing field `count` at line 1 column 13"
    );
    match &error {
        PublishError::InvalidJson {
            name, type_path, ..
        } => {
            assert_eq!(*name, "json.restocked");
            assert_eq!(*type_path, "publish_json::Restocked");
        }
        other => panic!("expected InvalidJson, got {other}"),
    }
    let source = std::error::Error::source(&error).expect("the serde_json error is the source");
    assert_eq!(
        source.to_string(),
        "missing field `count` at line 1 column 13"
    );

    let error = bus
        .publish_json("json.restocked", r#"{"sku":"A-1","count":-1}"#)
        .expect_err("`count` is unsigned");
    assert_eq!(
        error.to_string(),
        "the JSON for event `json.restocked` does not decode into `publish_json::Restocked`: \
         invalid value: integer `-1`, expected u32 at line 1 column 23"
    );

    let error = bus
        .publish_json("json.restocked", "not json")
        .expect_err("not JSON at all");
    assert_eq!(
        error.to_string(),
        "the JSON for event `json.restocked` does not decode into `publish_json::Restocked`: \
         expected ident at line 1 column 2"
    );

    assert_eq!(RESTOCKED.load(Ordering::SeqCst), 0);
}

// --- local events -------------------------------------------------------------------------

#[derive(Event, Debug)]
#[event(local, name = "json.local_ping")]
struct LocalPing {
    #[allow(dead_code)]
    reply_to: std::sync::mpsc::Sender<u32>,
}

static LOCAL_PINGS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_local_ping(_: &LocalPing) {
    LOCAL_PINGS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_local_event_name_is_refused() {
    let bus = Bus::new();
    let error = bus
        .publish_json("json.local_ping", "{}")
        .expect_err("local events are never decoded");
    assert_eq!(
        error.to_string(),
        "the event `json.local_ping` (`publish_json::LocalPing`) is local: it is never decoded \
         from JSON; remove `#[event(local)]` and derive `Serialize` and `Deserialize` to accept \
         it by name"
    );
    assert!(matches!(
        error,
        PublishError::LocalEvent {
            name: "json.local_ping",
            type_path: "publish_json::LocalPing",
        }
    ));
    assert_eq!(LOCAL_PINGS.load(Ordering::SeqCst), 0);

    // Published as a value, the local event is delivered as usual.
    let (reply_to, _replies) = std::sync::mpsc::channel();
    assert_eq!(bus.publish(LocalPing { reply_to }).handled(), 1);
    assert_eq!(LOCAL_PINGS.load(Ordering::SeqCst), 1);
}
