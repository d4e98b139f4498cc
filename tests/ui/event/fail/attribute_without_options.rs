use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event]
struct OrderPlaced {
    item: String,
}

fn main() {}
