use eventbus::prelude::*;

#[subscribe(mode = "background")]
fn audit(_event: &AnyEvent) {}

#[subscribe(mode = "blocking")]
fn unhandled(_event: &DeadEvent) {}

fn main() {}
