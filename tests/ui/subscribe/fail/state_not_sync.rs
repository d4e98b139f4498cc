use std::cell::Cell;

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced;

struct Counter(Cell<u32>);

#[subscribe]
fn count(_order: &OrderPlaced, counter: State<Counter>) {
    counter.0.set(counter.0.get() + 1);
}

fn main() {}
