use eventbus::prelude::*;

fn short(line: &String) -> bool {
    line.len() < 80
}

#[subscribe(filter = short)]
fn log_line(_line: &String) {}

fn main() {}
