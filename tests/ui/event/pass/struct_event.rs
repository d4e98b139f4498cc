use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Tick(u64);

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Shutdown;

static ITEMS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn count_items(order: &OrderPlaced) {
    ITEMS.fetch_add(order.quantity as usize, Ordering::Relaxed);
}

fn main() {
    assert_eq!(OrderPlaced::NAME, "OrderPlaced");
    assert_eq!(OrderPlaced::VERSION, 1);
    assert_eq!(Tick::NAME, "Tick");
    assert_eq!(Shutdown::NAME, "Shutdown");

    let bus = Bus::new();
    let report = bus.publish(OrderPlaced {
        item: "Book".into(),
        quantity: 3,
    });
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(ITEMS.load(Ordering::Relaxed), 3);

    let report = bus.publish(Tick(1));
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(bus.publish(Shutdown).is_dead());
}
