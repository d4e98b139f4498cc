use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Step;

static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());

#[subscribe(priority = -10)]
fn last(_: &Step) {
    ORDER.lock().unwrap().push("last");
}

#[subscribe]
fn middle(_: &Step) {
    ORDER.lock().unwrap().push("middle");
}

#[subscribe(priority = 10, name = "audit.first")]
fn first(_: &Step) {
    ORDER.lock().unwrap().push("first");
}

#[subscribe(priority = -2147483648)]
fn very_last(_: &Step) {
    ORDER.lock().unwrap().push("very_last");
}

#[subscribe(name = "renamed", priority = 2147483647)]
fn very_first(_: &Step) {
    ORDER.lock().unwrap().push("very_first");
}

fn main() {
    let bus = Bus::new();
    let report = bus.publish(Step);
    assert_eq!(report.handled(), 5);
    assert!(report.is_ok());
    assert_eq!(
        *ORDER.lock().unwrap(),
        ["very_first", "first", "middle", "last", "very_last"]
    );

    let handlers: Vec<(&str, i32)> = bus
        .handlers()
        .iter()
        .map(|h| (h.handler_name(), h.priority()))
        .collect();
    assert_eq!(
        handlers,
        [
            ("renamed", i32::MAX),
            ("audit.first", 10),
            (concat!(module_path!(), "::middle"), 0),
            (concat!(module_path!(), "::last"), -10),
            (concat!(module_path!(), "::very_last"), i32::MIN),
        ]
    );
}
