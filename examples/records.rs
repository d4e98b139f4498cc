//! Events that leave one process and arrive in another. The shop's bus
//! has a sink that writes the record of every event as one line of JSON;
//! the warehouse, standing for a second process, reads those lines back
//! and delivers them to a bus of its own. Its handlers get each event
//! under the id and correlation id it had in the shop.
//!
//! Run it with `cargo run --example records`.

use std::error::Error;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use eventbus::layer::BoxFuture;
use eventbus::prelude::*;
use eventbus::{EventRecord, SendOutcome, Sink};

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.order_placed")]
struct OrderPlaced {
    order: u32,
    total_cents: u64,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.payment_charged")]
struct PaymentCharged {
    order: u32,
    total_cents: u64,
}

/// In the shop: charges the card, and says so with a follow-up event.
#[subscribe(group = "shop")]
fn charge_card(order: &OrderPlaced, ctx: &Context) {
    println!("shop: order {} placed, card charged", order.order);
    ctx.publish(PaymentCharged {
        order: order.order,
        total_cents: order.total_cents,
    });
}

/// In the warehouse: packs the order.
#[subscribe(group = "warehouse")]
fn pack_order(order: &OrderPlaced, ctx: &Context) {
    arrived(&format!("pack order {}", order.order), ctx);
}

/// In the warehouse: mails the receipt once the payment is in.
#[subscribe(group = "warehouse")]
fn mail_receipt(payment: &PaymentCharged, ctx: &Context) {
    arrived(&format!("mail receipt for order {}", payment.order), ctx);
}

/// Prints what the warehouse does, and the envelope the event came with.
fn arrived(what: &str, ctx: &Context) {
    let envelope = ctx.envelope();
    let causation = envelope
        .causation_id
        .map_or_else(|| "-".to_owned(), |id| id.to_string());
    println!(
        "warehouse: {what:<24} id={} correlation={} causation={causation} origin={}",
        envelope.id, envelope.correlation_id, envelope.origin,
    );
}

/// Writes each record as one line of JSON: on stdout, and down a pipe to
/// the other process.
struct JsonLines(Sender<String>);

impl Sink for JsonLines {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|record| {
                    let line = record.to_json();
                    println!("{line}");
                    match self.0.send(line) {
                        Ok(()) => SendOutcome::Sent,
                        Err(error) => SendOutcome::Failed(error.into()),
                    }
                })
                .collect()
        })
    }
}

// One thread: the sink's worker runs only while `main` waits for it, so
// the lines come out in the same order on every run.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let (pipe, lines) = channel();

    println!("-- shop: the sink writes each event as a line of JSON --");
    let shop = Bus::builder()
        .groups(["shop"])
        .sink("json-lines", JsonLines(pipe))
        .build()?;
    shop.publish(OrderPlaced {
        order: 7,
        total_cents: 1250,
    })
    .into_result()?;
    shop.flush().await; // every record accepted so far is written

    println!("-- warehouse: reads the lines back and delivers them --");
    let warehouse = Bus::builder().groups(["warehouse"]).build()?;
    for line in lines.try_iter() {
        let record = EventRecord::from_json(line.as_bytes())?;
        warehouse.deliver(record)?.into_result()?;
    }
    Ok(())
}
