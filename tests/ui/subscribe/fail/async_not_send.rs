use std::rc::Rc;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe]
async fn update_inventory(order: &OrderPlaced) {
    let item = Rc::new(order.item.clone());
    tokio::task::yield_now().await;
    println!("{item}");
}

fn main() {}
