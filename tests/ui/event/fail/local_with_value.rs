use eventbus::prelude::*;

#[derive(Event)]
#[event(local = true)]
struct CacheCleared;

fn main() {}
