use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(bus::priority = 1)]
fn update_inventory(_order: &OrderPlaced) {}

fn main() {}
