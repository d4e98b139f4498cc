use eventbus::prelude::*;

#[subscribe]
fn log_line(_line: &String) {}

fn main() {}
