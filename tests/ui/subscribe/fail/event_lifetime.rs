use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced;

#[subscribe]
fn declared<'a>(_order: &'a OrderPlaced) {}

#[subscribe]
fn forever(_order: &'static OrderPlaced) {}

fn main() {}
