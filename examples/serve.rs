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
//! The event console is at <http://127.0.0.1:3000/>. Ctrl-C shuts it down: intake stops, the handlers drain, then the
//! server ends.

use eventbus::http::{EventStream, Ingress};
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
    // The console's live events come from this sink.
    let events = EventStream::new();
    let bus = Bus::builder()
        .sink("console", events.clone())
        .build()
        .expect("the bus builds");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "listening on http://{} (the console is at /)",
        listener.local_addr()?
    );
    let router = Ingress::new(bus.clone()).stream(events).router();
    let stopping = bus.clone();
    let (stopped, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        // Intake stops first (the ingress answers 503), the handlers
        // drain and the event streams end; then the server stops taking
        // connections and waits for the open ones.
        stopping.shutdown().await;
        let _ = stopped.send(());
    });
    tokio::select! {
        result = server => result?,
        () = async {
            let _ = stopped_rx.await;
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        } => eprintln!("clients still connected 10 s after shutdown: stopping anyway"),
    }
    Ok(())
}
