use eventbus::upcast;
use serde_json::Value;

#[upcast(event = String, from = 1)]
fn string_v1(old: Value) -> Value {
    old
}

fn main() {}
