//! A chain of events: an order is placed, the payment is charged, then a
//! receipt is mailed and the inventory updated. Each handler publishes the
//! next event with `ctx.publish`; the bus delivers them breadth-first and
//! keeps the chain's lineage in each envelope.
//!
//! Run it with `cargo run --example order_chain`.

use eventbus::prelude::*;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: u32,
    amount: u32,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PaymentCharged {
    order: u32,
    amount: u32,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ReceiptMailed {
    order: u32,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct InventoryUpdated {
    order: u32,
}

/// Prints where an event sits in its chain.
fn trace(name: &str, ctx: &Context) {
    let envelope = ctx.envelope();
    let causation = envelope
        .causation_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    println!(
        "[depth {}] {name:<16} id={} correlation={} causation={causation}",
        ctx.depth(),
        envelope.id,
        envelope.correlation_id,
    );
}

#[subscribe]
fn charge_payment(order: &OrderPlaced, ctx: &Context) {
    trace("OrderPlaced", ctx);
    ctx.publish(PaymentCharged {
        order: order.order,
        amount: order.amount,
    });
}

#[subscribe]
fn mail_receipt(payment: &PaymentCharged, ctx: &Context) {
    trace("PaymentCharged", ctx);
    ctx.publish(ReceiptMailed {
        order: payment.order,
    });
    ctx.publish(InventoryUpdated {
        order: payment.order,
    });
}

#[subscribe]
fn receipt_mailed(_: &ReceiptMailed, ctx: &Context) {
    trace("ReceiptMailed", ctx);
}

#[subscribe]
fn inventory_updated(_: &InventoryUpdated, ctx: &Context) {
    trace("InventoryUpdated", ctx);
}

fn main() {
    let bus = Bus::new();
    let report = bus.publish(OrderPlaced {
        order: 7,
        amount: 30,
    });
    // Every follow-up was delivered before `publish` returned.
    println!(
        "root event {}: {} handler, {} failures",
        report.event_id(),
        report.handled(),
        report.failures().len()
    );
}
