use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version = 4294967296)]
struct OrderPlaced {
    item: String,
}

fn main() {}
