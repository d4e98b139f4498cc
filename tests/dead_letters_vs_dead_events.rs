//! Dead events and dead letters are two different things: an event nobody
//! handled goes to the `&DeadEvent` handlers and is no dead letter; an
//! event whose handler failed is a dead letter and no dead event.
//!
//! The `&DeadEvent` handler below sees every unhandled event of this test
//! binary, so each test looks only at the records of its own event's name.

use eventbus::prelude::*;
use eventbus::{FailureKind, MemoryDeadLetters};

use std::sync::Mutex;

use serde_json::json;

/// `(event name, its JSON)` for each call of [`record_dead`].
static DEAD: Mutex<Vec<(&'static str, Option<serde_json::Value>)>> = Mutex::new(Vec::new());

#[subscribe]
fn record_dead(dead: &DeadEvent) {
    DEAD.lock().unwrap().push((dead.name(), dead.to_json()));
}

fn dead_records(name: &str) -> Vec<Option<serde_json::Value>> {
    DEAD.lock()
        .unwrap()
        .iter()
        .filter(|(seen, _)| *seen == name)
        .map(|(_, json)| json.clone())
        .collect()
}

fn bus_with_letters() -> (Bus, MemoryDeadLetters) {
    let letters = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .dead_letters(letters.clone())
        .build()
        .unwrap();
    (bus, letters)
}

// --- an unhandled event ------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dlde.unheard")]
struct Unheard {
    ticket: u32,
}

#[test]
fn an_unhandled_event_is_a_dead_event_and_no_dead_letter() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Unheard { ticket: 4 });

    assert!(report.is_dead());
    assert!(report.is_ok());
    assert_eq!(report.handled(), 0);
    assert_eq!(
        dead_records("dlde.unheard"),
        vec![Some(json!({ "ticket": 4 }))]
    );
    assert!(letters.is_empty());
}

// --- a failing handler -------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dlde.rejected")]
struct Rejected {
    ticket: u32,
}

#[subscribe]
fn reject(rejected: &Rejected) -> Result<(), String> {
    Err(format!("ticket {} is void", rejected.ticket))
}

#[test]
fn a_failed_event_is_a_dead_letter_and_no_dead_event() {
    let (bus, letters) = bus_with_letters();

    let report = bus.publish(Rejected { ticket: 6 });

    assert!(!report.is_dead());
    assert_eq!(report.handled(), 1);
    assert_eq!(
        dead_records("dlde.rejected"),
        Vec::<Option<serde_json::Value>>::new()
    );
    let all = letters.letters();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].event_name, "dlde.rejected");
    assert_eq!(all[0].payload, Some(json!({ "ticket": 6 })));
    assert_eq!(all[0].kind, FailureKind::Error);
    assert_eq!(all[0].message, "ticket 6 is void");
}
