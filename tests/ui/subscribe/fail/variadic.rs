use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
unsafe extern "C" fn update_inventory(_order: &OrderPlaced, _rest: ...) {}

fn main() {}
