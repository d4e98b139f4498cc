use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(mode = background)]
fn update_inventory(_order: &OrderPlaced) {}

fn main() {}
