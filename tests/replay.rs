//! Replay safety: a record read back from a log (origin `Replay`) runs only
//! the handlers that say `#[subscribe(replay)]`, so rebuilding a read model
//! never sends an email again; the same record from anywhere else runs
//! them all.

use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{Envelope, EventRecord, Origin};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "replay.order_placed")]
struct OrderPlaced {
    order: u32,
}

/// Which handler saw which order.
static CALLS: Mutex<Vec<(&'static str, u32)>> = Mutex::new(Vec::new());

#[subscribe(replay)]
fn count_orders(placed: &OrderPlaced) {
    CALLS.lock().unwrap().push(("count_orders", placed.order));
}

#[subscribe]
fn email_the_customer(placed: &OrderPlaced) {
    CALLS
        .lock()
        .unwrap()
        .push(("email_the_customer", placed.order));
}

fn record(order: u32, origin: Origin) -> EventRecord {
    EventRecord::from_event(
        &OrderPlaced { order },
        Envelope::generate().with_origin(origin),
    )
    .unwrap()
}

#[test]
fn a_replayed_record_runs_only_the_replay_handlers_and_others_run_them_all() {
    let bus = Bus::new();
    let replayed = bus.deliver(record(1, Origin::Replay)).unwrap();
    assert_eq!(replayed.handled(), 1);
    let remote = bus.deliver(record(2, Origin::Remote)).unwrap();
    assert_eq!(remote.handled(), 2);
    let published = bus.publish(OrderPlaced { order: 3 });
    assert_eq!(published.handled(), 2);
    let mut calls = CALLS.lock().unwrap().clone();
    calls.sort_unstable();
    assert_eq!(
        calls,
        [
            ("count_orders", 1),
            ("count_orders", 2),
            ("count_orders", 3),
            ("email_the_customer", 2),
            ("email_the_customer", 3),
        ]
    );
    let info: Vec<(&str, bool)> = bus
        .handlers()
        .iter()
        .map(|info| (info.handler_name(), info.replay()))
        .collect();
    assert!(info.contains(&("replay::count_orders", true)), "{info:?}");
    assert!(
        info.contains(&("replay::email_the_customer", false)),
        "{info:?}"
    );
}
