use eventbus::upcast;
use serde_json::Value;

// Both are true, and both are said.
struct Draft;

#[upcast(event = Draft, from = 1)]
fn draft_v1(old: Value) -> Value {
    old
}

fn main() {
    let _ = Draft;
}
