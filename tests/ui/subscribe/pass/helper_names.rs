// The items `#[subscribe]` and `#[derive(Event)]` write beside a handler
// do not hide the user's items of the same name.
use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Subscribable(u32);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct SerdeEvent(u32);

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_subscribable(event: &Subscribable) {
    CALLS.fetch_add(event.0 as usize, Ordering::SeqCst);
}

#[subscribe]
fn on_serde_event(event: &SerdeEvent) {
    CALLS.fetch_add(event.0 as usize, Ordering::SeqCst);
}

#[subscribe]
async fn handler_future(event: &Subscribable) {
    CALLS.fetch_add(event.0 as usize, Ordering::SeqCst);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bus = Bus::new();
    assert_eq!(bus.publish_async(Subscribable(1)).await.handled(), 2);
    assert_eq!(bus.publish(SerdeEvent(10)).handled(), 1);
    assert_eq!(CALLS.load(Ordering::SeqCst), 12);
}
