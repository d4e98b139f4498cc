//! Buses that keep every link-time handler share one route per event type,
//! built by the first of them; buses that leave handlers out build their
//! own. Neither sees the other's handlers, whichever is built first.
//!
//! One test in its own binary, so the first bus of the process is known.

use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Shipped(u32);

static RAN: Mutex<Vec<(&str, u32)>> = Mutex::new(Vec::new());

#[subscribe(priority = 1)]
fn label(event: &Shipped) {
    RAN.lock().unwrap().push(("label", event.0));
}

#[subscribe]
fn notify(event: &Shipped) {
    RAN.lock().unwrap().push(("notify", event.0));
}

#[subscribe(group = "audit")]
fn audit(event: &Shipped) {
    RAN.lock().unwrap().push(("audit", event.0));
}

fn ran(bus: &Bus, number: u32) -> (usize, Vec<(&'static str, u32)>) {
    let report = bus.publish(Shipped(number));
    assert!(report.is_ok());
    (report.handled(), std::mem::take(&mut *RAN.lock().unwrap()))
}

#[test]
fn shared_and_own_routes_keep_their_own_handlers() {
    let without_label = Bus::builder()
        .filter_handlers(|info| !info.handler_name().ends_with("::label"))
        .build()
        .unwrap();
    let first_default = Bus::new();
    let audited = Bus::builder().groups(["audit"]).build().unwrap();
    let second_default = Bus::default();

    assert_eq!(ran(&without_label, 1), (1, vec![("notify", 1)]));
    assert_eq!(
        ran(&first_default, 2),
        (2, vec![("label", 2), ("notify", 2)])
    );
    assert_eq!(
        ran(&audited, 3),
        (3, vec![("label", 3), ("notify", 3), ("audit", 3)])
    );
    assert_eq!(
        ran(&second_default, 4),
        (2, vec![("label", 4), ("notify", 4)])
    );
    assert_eq!(ran(&without_label, 5), (1, vec![("notify", 5)]));
}
