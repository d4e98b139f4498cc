use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(replay = true)]
fn count_orders(_order: &OrderPlaced) {}

fn main() {}
