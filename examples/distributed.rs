//! The same handlers in many processes, on RabbitMQ.
//!
//! ```text
//! cargo run --example distributed --features rabbitmq -- worker billing    # in two terminals
//! cargo run --example distributed --features rabbitmq -- worker shipping   # in a third
//! cargo run --example distributed --features rabbitmq -- publish 1000
//! ```
//!
//! The `billing` workers share the orders between them; the `shipping`
//! worker gets every one. `AMQP_URL` names the broker (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`); `EVENTBUS_RABBITMQ_PREFIX` the
//! prefix of the exchange and queues (default `eventbus`).

use std::process::ExitCode;

use eventbus::prelude::*;
use eventbus::rabbitmq::RabbitMq;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
    #[serde(default)]
    user_id: u64,
}

#[subscribe(group = "billing")]
fn bill(order: &OrderPlaced) {
    println!(
        "[billing {}] invoice for {} x {} (user {})",
        std::process::id(),
        order.quantity,
        order.item,
        order.user_id
    );
}

#[subscribe(group = "shipping")]
fn ship(order: &OrderPlaced) {
    println!(
        "[shipping {}] parcel of {} x {}",
        std::process::id(),
        order.quantity,
        order.item
    );
}

const USAGE: &str = "usage: distributed publish N | distributed worker GROUP (billing or shipping)";

#[tokio::main]
async fn main() -> ExitCode {
    // Reconnects, retries and dead letters are logged on stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rabbit = RabbitMq::from_env();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["publish", count] => match count.parse() {
            Ok(count) => publish(&rabbit, count).await,
            Err(_) => Err(format!("`{count}` is not a number of orders; {USAGE}").into()),
        },
        ["worker", group] => work(&rabbit, group).await,
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Publishes `count` orders from a bus whose groups all run elsewhere.
async fn publish(rabbit: &RabbitMq, count: u32) -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::builder()
        .remote_groups(["billing", "shipping"])
        .sink("rabbitmq", rabbit.sink()?)
        .build()?;
    for n in 1..=count {
        let order = OrderPlaced {
            item: format!("order-{n}"),
            quantity: n % 5 + 1,
            user_id: u64::from(n % 100),
        };
        if let Err(error) = bus.emit(order).await {
            return Err(format!("the bus refused order {n}: {error}").into());
        }
    }
    // Every order confirmed by the broker (or in the dead letters).
    bus.flush().await;
    bus.shutdown().await;
    let sent = bus.sinks()[0].sent;
    println!("published {sent} orders to RabbitMQ");
    if sent == u64::from(count) {
        Ok(())
    } else {
        Err(format!(
            "{} of {count} orders were not confirmed",
            u64::from(count) - sent
        )
        .into())
    }
}

/// Runs `group`'s handlers on what arrives until ctrl-c.
async fn work(rabbit: &RabbitMq, group: &str) -> Result<(), Box<dyn std::error::Error>> {
    // The group's handlers run on what the broker delivers, not on a
    // local publish.
    let bus = Bus::builder().remote_groups([group]).build()?;
    let consumer = rabbit.consume(&bus).group(group).start().await?;
    println!(
        "[{group} {}] waiting for orders on `{}`; ctrl-c to stop",
        std::process::id(),
        rabbit.queues(group).main
    );
    tokio::signal::ctrl_c().await?;
    consumer.shutdown().await;
    bus.shutdown().await;
    Ok(())
}
