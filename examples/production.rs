//! Running the bus in production: tracing, metrics, retries, a circuit
//! breaker written as a layer, an error hook, dead letters, handler groups,
//! and the event graph.
//!
//! Run it with `cargo run --example production`; the tracing output goes to
//! stderr, the program's own report to stdout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use eventbus::layer::{Call, MetricsLayer, Next, TracingLayer};
use eventbus::prelude::*;
use eventbus::{BoxError, MemoryDeadLetters};

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "shop.order_placed")]
struct OrderPlaced {
    order: u32,
    card: String,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "billing.payment_charged")]
struct PaymentCharged {
    order: u32,
}

/// The payment gateway fails the first call for every order: a retry
/// gets through. A stolen card always fails.
static GATEWAY_CALLS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe(group = "billing", retry = 2, publishes = [PaymentCharged])]
fn charge_card(order: &OrderPlaced, ctx: &Context) -> Result<(), String> {
    let mut calls = GATEWAY_CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    calls.push(order.order);
    let attempt = calls.iter().filter(|seen| **seen == order.order).count();
    if order.card == "stolen" {
        return Err(format!("card {} refused", order.card));
    }
    if attempt == 1 {
        return Err("gateway timeout".into());
    }
    ctx.publish(PaymentCharged { order: order.order });
    Ok(())
}

#[subscribe(group = "mail", timeout_ms = 500)]
async fn mail_receipt(payment: &PaymentCharged) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    println!("mail: receipt for order {} sent", payment.order);
}

/// Only runs on buses that select the "analytics" group.
#[subscribe(group = "analytics")]
fn track(_: &OrderPlaced) {
    println!("analytics: this line is never printed here");
}

/// A circuit breaker as a layer: after `threshold` failed calls in a row
/// of one handler, its next calls fail at once without running it.
struct CircuitBreaker {
    threshold: u32,
    failures: Mutex<HashMap<&'static str, u32>>,
    short_circuited: AtomicU32,
}

impl CircuitBreaker {
    fn new(threshold: u32) -> Self {
        Self {
            threshold,
            failures: Mutex::new(HashMap::new()),
            short_circuited: AtomicU32::new(0),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, u32>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Layer for CircuitBreaker {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let handler = call.handler().handler_name();
        if self.failures().get(handler).copied().unwrap_or(0) >= self.threshold {
            self.short_circuited.fetch_add(1, Ordering::Relaxed);
            return Err(format!("circuit open for {handler}").into());
        }
        let result = next.run();
        let mut failures = self.failures();
        let count = failures.entry(handler).or_insert(0);
        *count = if result.is_ok() { 0 } else { *count + 1 };
        result
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let metrics = MetricsLayer::new();
    let letters = MemoryDeadLetters::new();
    let errors = std::sync::Arc::new(AtomicU32::new(0));
    let counted = std::sync::Arc::clone(&errors);
    let bus = Bus::builder()
        .groups(["billing", "mail"])
        .layer(TracingLayer::new())
        .layer(metrics.clone())
        .layer(CircuitBreaker::new(2))
        .on_error(move |failure| {
            counted.fetch_add(1, Ordering::Relaxed);
            eprintln!("on_error: {failure}");
        })
        .dead_letters(letters.clone())
        .build()
        .expect("every handler's state is given");

    println!("-- two good orders: the first gateway call fails, the retry succeeds --");
    for order in [1, 2] {
        let report = bus
            .publish_async(OrderPlaced {
                order,
                card: "visa".into(),
            })
            .await;
        println!("order {order}: ok = {}", report.is_ok());
    }

    println!("-- stolen cards: every attempt fails, each event becomes a dead letter --");
    println!("-- after two failed orders in a row the circuit opens --");
    for order in [3, 4, 5] {
        let report = bus
            .publish_async(OrderPlaced {
                order,
                card: "stolen".into(),
            })
            .await;
        for failure in report.failures() {
            println!(
                "order {order}: {failure} (attempts: {})",
                failure.attempts()
            );
        }
    }

    println!("-- handler metrics --");
    for handler in bus
        .metrics()
        .expect("the metrics layer is installed")
        .handlers
    {
        println!(
            "{} on {}: {} calls, {} failed",
            handler.handler_name, handler.event_name, handler.calls, handler.failures
        );
    }

    println!("-- dead letters --");
    for letter in letters.letters() {
        println!(
            "{} {} -> {}",
            letter.event_name,
            letter
                .payload
                .map(|payload| payload.to_string())
                .unwrap_or_default(),
            letter.message
        );
    }
    println!("on_error calls: {}", errors.load(Ordering::Relaxed));

    let path = std::env::temp_dir().join("eventbus-graph.mmd");
    match std::fs::write(&path, bus.graph()) {
        Ok(()) => eprintln!("event graph written to {}", path.display()),
        Err(error) => eprintln!("could not write the event graph: {error}"),
    }
    println!("-- event graph (Mermaid) --");
    print!("{}", bus.graph());
}
