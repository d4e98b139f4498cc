use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
fn update_inventory(_order: &OrderPlaced, _count: u32) {}

fn main() {}
