use std::sync::mpsc::{self, Sender};

use eventbus::prelude::*;

/// Not `Serialize`: it carries a channel back to the publisher.
#[derive(Event)]
#[event(local, name = "cache.flush", version = 2)]
struct FlushCache {
    done: Sender<usize>,
}

#[subscribe]
fn flush(request: &FlushCache) {
    request.done.send(42).unwrap();
}

fn main() {
    assert_eq!(FlushCache::NAME, "cache.flush");
    assert_eq!(FlushCache::VERSION, 2);

    let bus = Bus::new();
    let (done, flushed) = mpsc::channel();
    let report = bus.publish(FlushCache { done });
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(flushed.try_recv(), Ok(42));

    // Local events are never looked up by name.
    assert!(bus.publish_json("cache.flush", "{}").is_err());
}
