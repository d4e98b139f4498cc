use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(serde::name = "shop.order_placed")]
struct OrderPlaced {
    item: String,
}

fn main() {}
