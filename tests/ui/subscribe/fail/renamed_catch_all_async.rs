use eventbus::prelude::*;
use eventbus::AnyEvent as Everything;

#[subscribe]
async fn audit(_event: &Everything<'_>) {}

fn main() {}
