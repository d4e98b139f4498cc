use eventbus::prelude::*;
use std::sync::Arc;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct OrderPlaced;

#[subscribe]
fn boxed(_order: &Arc<OrderPlaced>) {}

#[subscribe]
fn owned(_order: Box<OrderPlaced>) {}

fn main() {}
