//! The synchronous order scenario of the Python dispatcher this project
//! replaces: an order is placed, the inventory is updated and a
//! notification is sent; then the notification handler unsubscribes.
//!
//! Run it with `cargo run --example orders`.

use eventbus::prelude::*;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

/// Registered at link time: runs for every order, for the program's life.
#[subscribe(priority = 10)]
fn update_inventory(order: &OrderPlaced) {
    println!("Order placed: {}. Updating inventory...", order.item);
}

fn send_notification(order: &OrderPlaced) {
    println!("Sending notification for order: {}", order.item);
}

fn main() {
    let bus = Bus::new();

    // Subscribed at run time, so that it can be unsubscribed below.
    let notifications = bus.subscribe(send_notification);

    let report = bus.publish(OrderPlaced {
        item: "Python Book".into(),
        quantity: 1,
    });
    println!("({} handlers ran)", report.handled());

    // Dropping the subscription unsubscribes: the Rust form of
    // `dispatcher.unsubscribe("order_placed", send_notification)`.
    drop(notifications);

    let report = bus.publish(OrderPlaced {
        item: "Rust Book".into(),
        quantity: 1,
    });
    println!("({} handler ran)", report.handled());
}
