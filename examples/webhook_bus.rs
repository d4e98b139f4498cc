//! The original's `WebhookBus`: the URLs given as arguments are
//! registered for `order_placed`, one order is published, and the program
//! exits once every endpoint has it or has failed for good, one line per
//! endpoint. Webhooks are signed when `EVENTBUS_WEBHOOK_SECRET` holds a
//! `whsec_` secret; a failed try is repeated at once, then after 1 s, 2 s
//! and 5 s.
//!
//! ```text
//! cargo run --example webhook_bus --features http -- http://127.0.0.1:8000/hook
//! ```
//!
//! Exit status: 0 when every endpoint got the order, 1 when any failed for
//! good, 2 for bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use eventbus::http::{Endpoint, RetrySchedule, WebhookSink};
use eventbus::prelude::*;
use eventbus::MemoryDeadLetters;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
    #[serde(default)]
    user_id: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        eprintln!(
            "usage: cargo run --example webhook_bus --features http -- URL [URL...]\n\
             (set EVENTBUS_WEBHOOK_SECRET=whsec_... to sign the webhooks)"
        );
        return ExitCode::from(2);
    }
    let secret = std::env::var("EVENTBUS_WEBHOOK_SECRET").ok();

    let schedule =
        RetrySchedule::new([0, 1, 2, 5].map(Duration::from_secs)).expect("the schedule has tries");
    let webhooks = WebhookSink::builder().retry_schedule(schedule).build();
    for url in &urls {
        let registered = Endpoint::new(url)
            .and_then(|endpoint| match &secret {
                Some(secret) => endpoint.secret(secret),
                None => Ok(endpoint),
            })
            .and_then(|endpoint| webhooks.register("order_placed", endpoint));
        if let Err(error) = registered {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    }

    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .sink("webhooks", webhooks.clone())
        .dead_letters(dead.clone())
        .build()
        .expect("the bus builds");
    let order = OrderPlaced {
        item: "Python Book".into(),
        quantity: 1,
        user_id: 42,
    };
    if let Err(error) = bus.emit(order).await {
        eprintln!("the order was not accepted: {error}");
        return ExitCode::FAILURE;
    }
    // Every endpoint has it, or has failed for good.
    bus.flush().await;

    let letters = dead.letters();
    let mut failed = false;
    for endpoint in webhooks.endpoints() {
        if endpoint.sent == 1 {
            println!("{}: delivered", endpoint.url);
            continue;
        }
        failed = true;
        // "... webhook to URL failed after N tries: why"
        let about = format!("webhook to {} ", endpoint.url);
        let why = letters
            .iter()
            .find_map(|letter| {
                let at = letter.message.find(&about)?;
                Some(&letter.message[at + about.len()..])
            })
            .unwrap_or("failed");
        println!("{}: {why}", endpoint.url);
    }
    bus.shutdown().await;
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
