use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    item: String,
}

#[subscribe(replay)]
fn count_orders(_order: &OrderPlaced) {}

#[subscribe(replay, priority = 5, group = "read-models")]
async fn project_orders(_order: &OrderPlaced) {}

fn main() {
    let bus = Bus::new();
    let replayed: Vec<bool> = bus.handlers().iter().map(|info| info.replay()).collect();
    assert_eq!(replayed, [true]);
}
