use eventbus::prelude::*;
use eventbus::upcast;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 3)]
struct OrderPlaced {
    order: u32,
}

#[upcast(event = OrderPlaced, from = 1)]
struct OrderPlacedV1;

fn main() {}
