use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
fn update_inventory(_order: &OrderPlaced)
where
    OrderPlaced: Send,
{
}

fn main() {}
