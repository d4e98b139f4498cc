use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct PriceChanged<T> {
    price: T,
}

fn main() {}
