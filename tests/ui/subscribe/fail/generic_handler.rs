use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
fn update_inventory<E: Event>(_event: &E) {}

fn main() {}
