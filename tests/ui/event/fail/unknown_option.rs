use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(rename = "shop.order_placed")]
struct OrderPlaced {
    item: String,
}

fn main() {}
