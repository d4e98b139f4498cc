//! The asyncio scenario of the Python dispatcher this project replaces:
//! async handlers run concurrently, and a fire-and-forget publish returns
//! before they finish.
//!
//! Run it with `cargo run --example async_orders`.

use std::time::Duration;

use eventbus::prelude::*;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

/// Slow I/O: talks to the warehouse.
#[subscribe]
async fn update_inventory(order: &OrderPlaced) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("Order placed: {}. Updating inventory...", order.item);
}

/// Faster I/O: talks to the mail server.
#[subscribe]
async fn send_notification(order: &OrderPlaced) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("Sending notification for order: {}", order.item);
}

#[tokio::main]
async fn main() {
    let bus = Bus::new();

    // `asyncio.gather` over the handlers: both run at once, and the call
    // returns when both are done (after about 300 ms, not 400 ms).
    println!("-- publish_async: the handlers run concurrently --");
    let started = std::time::Instant::now();
    let report = bus
        .publish_async(OrderPlaced {
            item: "Python Book".into(),
            quantity: 1,
        })
        .await;
    let concurrent = started.elapsed() < Duration::from_millis(400);
    println!(
        "{} handlers finished; ran concurrently: {concurrent}",
        report.handled()
    );

    // Fire and forget: `publish` spawns the async handlers and returns.
    println!("-- publish: fire and forget --");
    let report = bus.publish(OrderPlaced {
        item: "Rust Book".into(),
        quantity: 1,
    });
    println!(
        "Event published; continuing... ({} handlers scheduled)",
        report.scheduled()
    );

    // Before exiting, wait for everything the bus has in flight.
    bus.idle().await;
    println!("all handlers done");
}
