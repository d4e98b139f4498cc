//! The original's `FastAPI` endpoint: the bus's HTTP ingress on
//! `EVENTBUS_ADDR` (default `127.0.0.1:3000`), with the original's two
//! handlers of `order_placed`.
//!
//! ```text
//! cargo run --example serve --features http
//! curl -X POST localhost:3000/events/order_placed \
//!      -H 'content-type: application/json' -d '{"item":"Book","quantity":1}'
//! ```
//!
//! Ctrl-C shuts it down: intake stops, the handlers drain, then the
//! server ends.

use eventbus::prelude::*;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
    #[serde(default)]
    user_id: u64,
}

#[subscribe(priority = 10)]
fn update_inventory(order: &OrderPlaced) {
    println!("Order placed: {}. Updating inventory...", order.item);
}

#[subscribe]
fn send_notification(order: &OrderPlaced) {
    println!("Sending notification for order: {}", order.item);
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("EVENTBUS_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let bus = Bus::new();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    let router = eventbus::http::router(bus.clone());
    let stopping = bus.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Intake stops first (the ingress answers 503), the handlers
            // drain; then the server stops taking connections.
            stopping.shutdown().await;
        })
        .await?;
    Ok(())
}
