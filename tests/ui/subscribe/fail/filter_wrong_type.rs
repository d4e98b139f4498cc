use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    total: u64,
}

fn is_large(total: u64) -> bool {
    total >= 1_000
}

#[subscribe(filter = is_large)]
fn review(_order: &OrderPlaced) {}

fn main() {}
