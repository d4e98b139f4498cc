//! `&DeadEvent` handlers get each event that no handler of its type took,
//! once per publish, and nothing else.
//!
//! The dead-event handlers below see every dead event of this test binary,
//! so each test looks only at the records of its own event's name.

use eventbus::prelude::*;

use std::sync::Mutex;

/// `(event name, its JSON)` for each call of [`record_dead`].
static DEAD: Mutex<Vec<(&'static str, Option<serde_json::Value>)>> = Mutex::new(Vec::new());

#[subscribe]
fn record_dead(dead: &DeadEvent) {
    DEAD.lock().unwrap().push((dead.name(), dead.to_json()));
}

/// Refuses the one event name the failure test publishes.
#[subscribe(priority = -1)]
fn reject_poison(dead: &DeadEvent) -> Result<(), String> {
    if dead.event().name() == "dead.poisoned" {
        Err(format!("nobody wanted {}", dead.type_path()))
    } else {
        Ok(())
    }
}

fn dead_records(name: &str) -> Vec<Option<serde_json::Value>> {
    DEAD.lock()
        .unwrap()
        .iter()
        .filter(|(seen, _)| *seen == name)
        .map(|(_, json)| json.clone())
        .collect()
}

// --- an unhandled event ------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dead.unheard")]
struct Unheard {
    ticket: u32,
    note: String,
}

#[test]
fn an_unhandled_event_reaches_the_dead_event_handler_once() {
    let report = Bus::new().publish(Unheard {
        ticket: 7,
        note: "lost".into(),
    });
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(report.is_ok());
    assert_eq!(
        dead_records("dead.unheard"),
        vec![Some(serde_json::json!({ "ticket": 7, "note": "lost" }))]
    );
}

// --- a handled event -----------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dead.heard")]
struct Heard;

static HEARD: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe]
fn hear(_: &Heard) {
    HEARD.lock().unwrap().push("hear");
}

#[test]
fn a_handled_event_never_reaches_the_dead_event_handler() {
    let bus = Bus::new();
    for _ in 0..3 {
        let report = bus.publish(Heard);
        assert_eq!(report.handled(), 1);
        assert!(!report.is_dead());
        assert!(report.is_ok());
    }
    assert_eq!(*HEARD.lock().unwrap(), vec!["hear", "hear", "hear"]);
    assert_eq!(dead_records("dead.heard"), Vec::new());
}

// --- a runtime subscription makes an event handled ------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dead.sometimes")]
struct Sometimes {
    round: u32,
}

#[test]
fn an_event_is_dead_only_while_nobody_subscribes() {
    let bus = Bus::new();
    let _ = bus.publish(Sometimes { round: 1 });
    let subscription = bus.subscribe(|_: &Sometimes| {});
    let report = bus.publish(Sometimes { round: 2 });
    assert_eq!(report.handled(), 1);
    assert!(!report.is_dead());
    drop(subscription);
    let report = bus.publish(Sometimes { round: 3 });
    assert!(report.is_dead());
    assert_eq!(
        dead_records("dead.sometimes"),
        vec![
            Some(serde_json::json!({ "round": 1 })),
            Some(serde_json::json!({ "round": 3 })),
        ]
    );
}

// --- a local event ------------------------------------------------------------------

#[derive(Event, Debug)]
#[event(local, name = "dead.local")]
struct LocalOnly {
    #[allow(dead_code)]
    handle: std::sync::Arc<()>,
}

#[test]
fn a_dead_local_event_keeps_its_name_without_json() {
    let report = Bus::new().publish(LocalOnly {
        handle: std::sync::Arc::new(()),
    });
    assert!(report.is_dead());
    assert!(report.is_ok());
    assert_eq!(dead_records("dead.local"), vec![None]);
}

// --- a failing dead-event handler --------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "dead.poisoned")]
struct Poisoned;

#[test]
fn a_failing_dead_event_handler_shows_in_the_report() {
    let report = Bus::new().publish(Poisoned);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(!report.is_ok());
    assert_eq!(
        dead_records("dead.poisoned"),
        vec![Some(serde_json::json!(null))]
    );

    let failures = report.failures();
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert_eq!(failure.event_name(), "dead.poisoned");
    assert_eq!(failure.message(), "nobody wanted dead_events::Poisoned");
    let handler = failure.handler().expect("the failure names its handler");
    assert_eq!(handler.handler_name(), "dead_events::reject_poison");
    assert_eq!(handler.event_name(), "DeadEvent");
    assert_eq!(
        failure.to_string(),
        "handler dead_events::reject_poison returned an error on dead.poisoned: \
         nobody wanted dead_events::Poisoned"
    );
}
