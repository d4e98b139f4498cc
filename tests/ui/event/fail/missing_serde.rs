use eventbus::prelude::*;

#[derive(Event)]
struct OrderPlaced {
    item: String,
}

fn main() {}
