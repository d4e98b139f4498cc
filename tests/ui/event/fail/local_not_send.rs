use std::rc::Rc;

use eventbus::prelude::*;

#[derive(Event)]
#[event(local)]
struct CacheCleared {
    keys: Rc<Vec<String>>,
}

fn main() {}
