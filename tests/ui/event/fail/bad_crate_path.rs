use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(crate = "my-eventbus")]
struct OrderPlaced {
    item: String,
}

fn main() {}
