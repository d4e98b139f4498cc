use eventbus::prelude::*;

#[subscribe]
async fn audit(_event: &AnyEvent) {}

#[subscribe]
async fn unhandled(_event: &DeadEvent) {}

fn main() {}
