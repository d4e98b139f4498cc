use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.payment", version = 3)]
enum Payment {
    Authorized { cents: u64 },
    Declined(String),
    Refunded,
}

static DECLINED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_payment(payment: &Payment) {
    if let Payment::Declined(_) = payment {
        DECLINED.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    assert_eq!(Payment::NAME, "shop.payment");
    assert_eq!(Payment::VERSION, 3);

    let bus = Bus::new();
    for payment in [
        Payment::Authorized { cents: 1250 },
        Payment::Declined("expired card".into()),
        Payment::Refunded,
    ] {
        let report = bus.publish(payment);
        assert_eq!(report.handled(), 1);
        assert!(report.is_ok());
    }
    assert_eq!(DECLINED.load(Ordering::Relaxed), 1);

    let report = bus
        .publish_json("shop.payment", r#"{"Declined":"stolen card"}"#)
        .unwrap();
    assert_eq!(report.handled(), 1);
    assert_eq!(DECLINED.load(Ordering::Relaxed), 2);
}
