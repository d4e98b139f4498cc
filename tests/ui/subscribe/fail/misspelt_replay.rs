use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(replays)]
fn count_orders(_order: &OrderPlaced) {}

fn main() {}
