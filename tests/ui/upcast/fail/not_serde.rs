use eventbus::prelude::*;
use eventbus::upcast;
use serde_json::Value;

#[derive(Event)]
#[event(local, version = 2)]
struct DraftSaved {
    draft: u32,
}

#[upcast(event = DraftSaved, from = 1)]
fn draft_saved_v1(old: Value) -> Value {
    old
}

fn main() {}
