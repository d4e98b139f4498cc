//! An event at version 3 with an upcaster from version 1 but none from 2:
//! no bus can be built, and the error names the event and the missing
//! step.
//!
//! Every bus of this test binary sees the broken chain, so nothing else
//! lives here.

use eventbus::prelude::*;
use eventbus::{upcast, BuildError};
use serde_json::Value;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.order_placed", version = 3)]
struct OrderPlaced {
    order: u32,
    total_cents: u64,
}

/// Version 1 had `total` in whole units.
#[upcast(event = OrderPlaced, from = 1)]
fn order_placed_v1(mut old: Value) -> Value {
    let total = old["total"].as_u64().unwrap_or_default();
    old["total_cents"] = (total * 100).into();
    old
}

const MESSAGE: &str = "event `shop.order_placed` is at version 3 and has an upcaster from \
                       version 1, but none from version 2: add \
                       `#[upcast(event = upcast_broken_chain::OrderPlaced, from = 2)]`";

#[test]
fn build_fails_naming_the_missing_step() {
    let error = Bus::builder()
        .build()
        .expect_err("version 2 has no upcaster");
    assert_eq!(error.to_string(), MESSAGE);
    match error {
        BuildError::MissingUpcaster {
            event,
            type_path,
            version,
            from,
            missing,
        } => {
            assert_eq!(event, "shop.order_placed");
            assert_eq!(type_path, "upcast_broken_chain::OrderPlaced");
            assert_eq!((version, from, missing), (3, 1, 2));
        }
        other => panic!("expected MissingUpcaster, got {other}"),
    }
}

#[test]
fn bus_new_panics_with_the_same_message() {
    let payload = std::panic::catch_unwind(Bus::new).expect_err("Bus::new panics on a gap");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(message, Some(MESSAGE));
}

#[test]
fn the_upcaster_stays_a_plain_function() {
    let old = serde_json::json!({ "order": 7, "total": 12 });
    let new = order_placed_v1(old);
    assert_eq!(
        new,
        serde_json::json!({ "order": 7, "total": 12, "total_cents": 1200 })
    );
    let placed = OrderPlaced {
        order: 7,
        total_cents: 12,
    };
    assert_eq!((placed.order, placed.total_cents), (7, 12));
}
