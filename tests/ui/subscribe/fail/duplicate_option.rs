use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(priority = 1, priority = 2)]
fn update_inventory(_order: &OrderPlaced) {}

fn main() {}
