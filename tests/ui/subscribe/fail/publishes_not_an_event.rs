use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced;

#[subscribe(publishes = [String])]
fn update_inventory(_order: &OrderPlaced) {}

fn main() {}
