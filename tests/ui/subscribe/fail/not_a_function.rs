use eventbus::prelude::*;

#[subscribe]
struct Audit;

fn main() {}
