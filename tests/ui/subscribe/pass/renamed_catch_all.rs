// `&AnyEvent` and `&DeadEvent` are recognised by type, not by name: a
// renamed import is still a catch-all.
use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{AnyEvent as Everything, DeadEvent as Unhandled};

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Handled;

#[derive(Event)]
#[event(local)]
struct Ignored;

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn on_handled(_: &Handled) {}

#[subscribe]
fn audit(event: &Everything) {
    SEEN.lock().unwrap().push(format!("every {}", event.name()));
}

#[subscribe(priority = 1, retry = 2)]
fn unhandled(dead: &Unhandled<'_>) {
    SEEN.lock().unwrap().push(format!("dead {}", dead.name()));
}

fn main() {
    let bus = Bus::new();

    let report = bus.publish(Handled);
    assert_eq!(report.handled(), 1);
    assert!(!report.is_dead());

    let report = bus.publish(Ignored);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());

    assert_eq!(
        *SEEN.lock().unwrap(),
        ["every Handled", "every Ignored", "dead Ignored"]
    );
}
