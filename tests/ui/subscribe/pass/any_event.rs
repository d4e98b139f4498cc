use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "user.signed_up")]
struct SignedUp {
    user: String,
}

#[derive(Event)]
#[event(local)]
struct Heartbeat;

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn audit(event: &AnyEvent) {
    let json = event.to_json().map(|json| json.to_string());
    SEEN.lock()
        .unwrap()
        .push(format!("{} {:?}", event.name(), json));
}

#[subscribe]
fn welcome(signed_up: &SignedUp) {
    assert_eq!(signed_up.user, "ada");
}

fn main() {
    let bus = Bus::new();

    let report = bus.publish(SignedUp { user: "ada".into() });
    // Catch-alls are not counted in `handled()`.
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());

    let report = bus.publish(Heartbeat);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());

    assert_eq!(
        *SEEN.lock().unwrap(),
        [
            r#"user.signed_up Some("{\"user\":\"ada\"}")"#.to_owned(),
            "Heartbeat None".to_owned(),
        ]
    );
}
