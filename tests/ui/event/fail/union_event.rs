use eventbus::prelude::*;

#[derive(Event)]
#[event(local)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
