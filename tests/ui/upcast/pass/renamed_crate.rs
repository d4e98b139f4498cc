//! The runtime under another name: the code `#[upcast]` writes must go
//! through `crate = "..."`, never through `::eventbus`.

extern crate eventbus as bus_renamed;

use bus_renamed::{upcast, Bus, Event};

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(crate = "bus_renamed", version = 2)]
struct Pinged {
    times: usize,
}

#[upcast(event = Pinged, from = 1, crate = "bus_renamed")]
fn pinged_v1(mut old: serde_json::Value) -> serde_json::Value {
    old["times"] = 1.into();
    old
}

fn main() {
    assert_eq!(<Pinged as Event>::VERSION, 2);
    let bus = Bus::builder().build().expect("the chain is complete");
    assert_eq!(bus.publish(Pinged { times: 2 }).handled(), 0);
    assert_eq!(
        pinged_v1(serde_json::json!({})),
        serde_json::json!({ "times": 1 })
    );
}
