//! The whole idea in one file: typed events, handlers found at link time,
//! failures reported instead of lost, handlers added at run time, async
//! handlers, and a background queue that loses nothing.
//!
//! Run it with `cargo run --example quickstart`.

use std::time::Duration;

use eventbus::layer::TracingLayer;
use eventbus::prelude::*;

/// An event is plain data with `#[derive(Event)]`.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

/// A handler is a free function that takes the event by reference.
/// Nothing else wires it up: `Bus::new()` finds it.
#[subscribe(priority = 10)]
fn update_inventory(order: &OrderPlaced) {
    println!("inventory: {} x {} reserved", order.quantity, order.item);
}

/// Handlers may fail. The bus keeps going and reports the failure.
#[subscribe]
fn charge_card(order: &OrderPlaced) -> Result<(), PaymentDeclined> {
    if order.quantity > 5 {
        return Err(PaymentDeclined {
            amount: order.quantity * 12,
        });
    }
    println!("payment: charged for {}", order.item);
    Ok(())
}

/// Runs after the failing handler all the same (lower priority).
#[subscribe(priority = -10)]
fn send_receipt(order: &OrderPlaced) {
    println!("mail: receipt for {} sent", order.item);
}

/// A catch-all handler sees every event, e.g. for an audit log.
#[subscribe]
fn audit(event: &AnyEvent) {
    println!(
        "audit: {} {}",
        event.name(),
        event.to_json().unwrap_or_default()
    );
}

/// Another event, handled by async handlers.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderShipped {
    item: String,
}

/// Async handlers run concurrently. Parameters after the event are handed
/// in by the bus: here the delivery's `Context`, with the envelope.
#[subscribe]
async fn mail_customer(shipped: &OrderShipped, ctx: &Context) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    println!(
        "mail: {} shipped (event #{})",
        shipped.item,
        ctx.envelope().sequence
    );
}

#[subscribe]
async fn track_parcel(shipped: &OrderShipped) {
    tokio::time::sleep(Duration::from_millis(10)).await;
    println!("tracking: parcel for {} registered", shipped.item);
}

#[derive(Debug)]
struct PaymentDeclined {
    amount: u32,
}

impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "card declined for {} EUR", self.amount)
    }
}

impl std::error::Error for PaymentDeclined {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Log every delivery and handler call, and each failure, to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let bus = Bus::builder()
        .layer(TracingLayer::new())
        .build()
        .expect("no two event types share a name");

    println!("-- handlers found at link time --");
    for handler in bus.handlers() {
        println!(
            "{:>4}  {} -> {}",
            handler.priority(),
            handler.event_name(),
            handler.handler_name()
        );
    }

    println!("-- a small order --");
    let report = bus.publish(OrderPlaced {
        item: "Book".into(),
        quantity: 1,
    });
    println!("handled by {}, ok: {}", report.handled(), report.is_ok());

    println!("-- a large order: one handler fails, the others still run --");
    let report = bus.publish(OrderPlaced {
        item: "Lamp".into(),
        quantity: 6,
    });
    println!("handled by {}, ok: {}", report.handled(), report.is_ok());
    for failure in report.failures() {
        println!("failure: {failure}");
    }

    println!("-- a handler added at run time, removed by dropping it --");
    let subscription = bus.subscribe(|order: &OrderPlaced| {
        println!("dashboard: {} ordered", order.item);
    });
    let report = bus.publish_json("shop.order_placed", r#"{"item":"Pen","quantity":2}"#);
    println!("handled by {}", report.map_or(0, |report| report.handled()));
    drop(subscription);

    println!("-- bad input is an error, never a silent drop --");
    if let Err(error) = bus.publish_json("shop.order_place", "{}") {
        println!("error: {error}");
    }

    println!("-- async handlers run concurrently; publish_async waits for them --");
    let report = bus
        .publish_async(OrderShipped {
            item: "Book".into(),
        })
        .await;
    println!("handled by {}", report.handled());

    println!("-- emit queues the event and returns; shutdown delivers the queue --");
    if let Err(error) = bus
        .emit(OrderShipped {
            item: "Lamp".into(),
        })
        .await
    {
        println!("not queued: {error}");
    }
    println!("emitted");
    bus.shutdown().await;
    println!("shut down; nothing was lost");
}
