//! Older records are upcast step by step when they are delivered or
//! decoded: 1 -> 2 -> 3 runs both steps in order, a record at the current
//! version is read as it is, and a failing step or a version without a
//! step is an error that delivers nothing.

use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{upcast, Envelope, EventRecord};
use serde_json::{json, Value};

/// Version 1 had `total` in whole units; version 2 had no currency.
#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "upcasting.order_placed", version = 3)]
struct OrderPlaced {
    order: u32,
    total_cents: u64,
    currency: String,
}

#[upcast(event = OrderPlaced, from = 1)]
fn order_placed_v1(mut old: Value) -> Result<Value, String> {
    let total = old["total"]
        .as_u64()
        .ok_or_else(|| format!("version 1 has a whole-unit `total`, not {}", old["total"]))?;
    let object = old.as_object_mut().ok_or("version 1 is an object")?;
    object.remove("total");
    object.insert("total_cents".into(), json!(total * 100));
    Ok(old)
}

#[upcast(event = OrderPlaced, from = 2)]
fn order_placed_v2(mut old: Value) -> Value {
    old["currency"] = json!("EUR");
    old
}

/// Upcasters start at version 2: nothing reads a version 1 record.
#[derive(Event, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "upcasting.refund_issued", version = 3)]
struct RefundIssued {
    order: u32,
    reason: String,
}

#[upcast(event = RefundIssued, from = 2)]
fn refund_issued_v2(mut old: Value) -> Value {
    old["reason"] = json!(old["note"].take().as_str().unwrap_or("none"));
    old.as_object_mut().map(|object| object.remove("note"));
    old
}

static PLACED: Mutex<Vec<OrderPlaced>> = Mutex::new(Vec::new());

#[subscribe]
fn on_placed(placed: &OrderPlaced) {
    PLACED.lock().unwrap().push(placed.clone());
}

#[subscribe]
fn on_refund(_: &RefundIssued) {}

fn record(name: &'static str, version: u32, payload: &Value) -> EventRecord {
    EventRecord::new(
        name,
        version,
        serde_json::to_vec(payload).unwrap(),
        Envelope::generate(),
    )
}

#[test]
fn each_older_version_is_upcast_step_by_step_then_delivered() {
    let bus = Bus::new();
    let expected = OrderPlaced {
        order: 7,
        total_cents: 1200,
        currency: "EUR".into(),
    };
    let v1 = record(
        "upcasting.order_placed",
        1,
        &json!({"order": 7, "total": 12}),
    );
    let v2 = record(
        "upcasting.order_placed",
        2,
        &json!({"order": 7, "total_cents": 1200}),
    );
    let v3 = record(
        "upcasting.order_placed",
        3,
        &json!({"order": 7, "total_cents": 1200, "currency": "EUR"}),
    );
    for record in [&v1, &v2, &v3] {
        assert_eq!(record.decode::<OrderPlaced>().unwrap(), expected);
        assert_eq!(bus.deliver(record.clone()).unwrap().handled(), 1);
    }
    assert_eq!(
        *PLACED.lock().unwrap(),
        vec![expected.clone(), expected.clone(), expected]
    );
}

#[test]
fn a_failing_step_or_a_version_without_one_delivers_nothing() {
    let bus = Bus::new();
    let bad = record(
        "upcasting.order_placed",
        1,
        &json!({"order": 8, "total": "twelve"}),
    );
    assert_eq!(
        bus.deliver(bad).unwrap_err().to_string(),
        "the upcaster `upcasting::order_placed_v1` failed to turn event `upcasting.order_placed` \
         from version 1 into version 2: version 1 has a whole-unit `total`, not \"twelve\""
    );
    let too_old = record("upcasting.refund_issued", 1, &json!({"order": 8}));
    assert_eq!(
        bus.deliver(too_old).unwrap_err().to_string(),
        "no upcaster turns event `upcasting.refund_issued` from version 1 into version 2: add a \
         function with `#[upcast(event = .., from = 1)]`"
    );
    let v2 = record(
        "upcasting.refund_issued",
        2,
        &json!({"order": 8, "note": "damaged"}),
    );
    assert_eq!(
        v2.decode::<RefundIssued>().unwrap(),
        RefundIssued {
            order: 8,
            reason: "damaged".into()
        }
    );
    assert!(PLACED
        .lock()
        .unwrap()
        .iter()
        .all(|placed| placed.order != 8));
}
