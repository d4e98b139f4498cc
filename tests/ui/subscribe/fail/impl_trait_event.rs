use eventbus::prelude::*;

#[subscribe]
fn any_event(_event: &impl Event) {}

fn main() {}
