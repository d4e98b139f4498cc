use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = " ")]
struct OrderPlaced {
    item: String,
}

fn main() {}
