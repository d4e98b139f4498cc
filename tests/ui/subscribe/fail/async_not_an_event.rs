use eventbus::prelude::*;

#[subscribe]
async fn log_line(_line: &String) {}

fn main() {}
