//! The order both the webhook and the RabbitMQ benches send.

use eventbus::prelude::*;
use serde::{Deserialize, Serialize};

/// The event's name: the broker's routing key.
// The webhook bench sends the event only.
#[allow(dead_code)]
pub const NAME: &str = "bench.order_placed";

/// An order, as the original's examples place it.
#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "bench.order_placed")]
pub struct OrderPlaced {
    pub item: String,
    pub quantity: u32,
}

/// The order every iteration sends.
pub fn order() -> OrderPlaced {
    OrderPlaced {
        item: "Python Book".into(),
        quantity: 1,
    }
}
