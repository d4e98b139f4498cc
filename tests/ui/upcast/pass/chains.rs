//! Complete chains of upcasters, in every form the function may take:
//! every bus builds, and the functions stay callable as written.
#![forbid(unsafe_code)]

use eventbus::prelude::*;
use eventbus::upcast;
use serde_json::{json, Value};

mod shop {
    use eventbus::prelude::*;

    #[derive(Event, serde::Serialize, serde::Deserialize)]
    #[event(name = "shop.order_placed", version = 3)]
    pub struct OrderPlaced {
        pub order: u32,
        pub total_cents: u64,
        pub currency: String,
    }
}

/// Version 1 had `total` in whole units.
#[upcast(event = shop::OrderPlaced, from = 1)]
pub fn order_placed_v1(mut old: Value) -> Result<Value, String> {
    let total = old["total"]
        .as_u64()
        .ok_or("`total` is not a whole number")?;
    let fields = old.as_object_mut().ok_or("not an object")?;
    fields.remove("total");
    fields.insert("total_cents".into(), json!(total * 100));
    Ok(old)
}

/// Version 2 had no currency.
#[upcast(from = 2, event = shop::OrderPlaced)]
fn order_placed_v2(mut old: serde_json::Value) -> serde_json::Value {
    old["currency"] = json!("EUR");
    old
}

// A chain may start above version 1, and the error type may be any error.
#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 4)]
struct Shipped {
    parcel: String,
}

#[upcast(event = Shipped, from = 2)]
fn shipped_v2(old: Value) -> Result<Value, std::io::Error> {
    Ok(old)
}

#[upcast(event = Shipped, from = 3)]
fn shipped_v3(old: Value) -> Result<Value, eventbus::BoxError> {
    Ok(old)
}

// The helpers the macro writes do not hide the user's items of the same
// name.
#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 2)]
struct Upcastable;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 2)]
struct SerdeEvent;

#[upcast(event = Upcastable, from = 1)]
fn upcastable_v1(old: Value) -> Value {
    old
}

#[upcast(event = SerdeEvent, from = 1)]
fn serde_event_v1(old: Value) -> Value {
    old
}

// An upcaster written by a `macro_rules!`.
#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 2)]
struct Renamed {
    name: String,
}

macro_rules! rename_field {
    ($name:ident, $event:ty, $from:literal, $old:literal -> $new:literal) => {
        #[upcast(event = $event, from = $from)]
        fn $name(mut old: Value) -> Value {
            let value = old[$old].take();
            old[$new] = value;
            old.as_object_mut().map(|fields| fields.remove($old));
            old
        }
    };
}

rename_field!(renamed_v1, Renamed, 1, "title" -> "name");

fn main() {
    let bus = Bus::builder().build().expect("every chain is complete");
    let placed = shop::OrderPlaced {
        order: 7,
        total_cents: 1200,
        currency: "EUR".into(),
    };
    assert_eq!(bus.publish(placed).handled(), 0);
    let shipped = Shipped {
        parcel: "p-1".into(),
    };
    assert_eq!(Bus::new().publish(shipped).handled(), 0);
    assert_eq!(bus.publish(Upcastable).handled(), 0);
    assert_eq!(bus.publish(SerdeEvent).handled(), 0);
    assert_eq!(bus.publish(Renamed { name: "x".into() }).handled(), 0);

    let v2 = order_placed_v1(json!({ "order": 7, "total": 12 })).unwrap();
    assert_eq!(v2, json!({ "order": 7, "total_cents": 1200 }));
    assert_eq!(
        order_placed_v2(v2),
        json!({ "order": 7, "total_cents": 1200, "currency": "EUR" })
    );
    assert_eq!(renamed_v1(json!({ "title": "x" })), json!({ "name": "x" }));
    assert!(shipped_v2(json!({})).is_ok() && shipped_v3(json!({})).is_ok());
    assert_eq!(upcastable_v1(json!(1)), serde_event_v1(json!(1)));
}
