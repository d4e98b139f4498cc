use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

struct Inventory;

impl Inventory {
    #[subscribe]
    fn update(_order: &OrderPlaced) {}
}

fn main() {}
