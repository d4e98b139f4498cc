use eventbus::prelude::*;
use eventbus::upcast;
use serde_json::Value;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 3)]
struct OrderPlaced {
    order: u32,
}

#[upcast(event = OrderPlaced, from = 1)]
fn order_placed_v1(old: Value) -> Option<Value> {
    Some(old)
}

fn main() {}
