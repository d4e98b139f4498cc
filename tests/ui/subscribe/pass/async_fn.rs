use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

static UPDATED: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
async fn update_inventory(order: &OrderPlaced) {
    assert_eq!(order.item, "Book");
    UPDATED.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::new();

    let report = runtime.block_on(bus.publish_async(OrderPlaced {
        item: "Book".into(),
    }));
    assert_eq!(report.handled(), 1);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    assert_eq!(UPDATED.load(Ordering::Relaxed), 1);
}
