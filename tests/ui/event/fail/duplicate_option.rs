use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 1)]
#[event(version = 2)]
struct OrderPlaced {
    item: String,
}

fn main() {}
