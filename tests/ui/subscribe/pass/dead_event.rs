use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Handled;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Ignored;

static DEAD: Mutex<Vec<&str>> = Mutex::new(Vec::new());

#[subscribe]
fn on_handled(_: &Handled) {}

#[subscribe]
fn unhandled(dead: &DeadEvent) {
    DEAD.lock().unwrap().push(dead.name());
}

fn main() {
    let bus = Bus::new();

    let report = bus.publish(Handled);
    assert_eq!(report.handled(), 1);
    assert!(!report.is_dead());

    let report = bus.publish(Ignored);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(report.is_ok());

    assert_eq!(*DEAD.lock().unwrap(), ["Ignored"]);
}
