use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(priority = 2147483648)]
fn update_inventory(_order: &OrderPlaced) {}

fn main() {}
