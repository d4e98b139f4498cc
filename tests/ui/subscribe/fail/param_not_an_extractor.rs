use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
fn update_inventory(_order: &OrderPlaced, _note: &String) {}

#[subscribe]
async fn send_receipt(_order: &OrderPlaced, _note: &String) {}

fn main() {}
