//! A `&DeadEvent` handler that takes `&Context` gets one, also for an
//! event that nothing else would have built a context for. In a file of
//! its own: a `&DeadEvent` handler sees every event of its binary.

use std::sync::Mutex;

use eventbus::prelude::*;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Unheard {
    note: u32,
}

/// (event name, envelope sequence, depth) per call.
static DEAD: Mutex<Vec<(String, u64, u32)>> = Mutex::new(Vec::new());

#[subscribe]
fn record_dead(dead: &DeadEvent, ctx: &Context) {
    DEAD.lock()
        .unwrap()
        .push((dead.name().to_owned(), ctx.envelope().sequence, ctx.depth()));
}

#[test]
fn a_dead_event_handler_taking_the_context_gets_one() {
    let bus = Bus::new();

    let first = bus.publish(Unheard { note: 1 });
    let second = bus.publish(Unheard { note: 2 });

    for report in [&first, &second] {
        assert!(report.is_ok(), "{:?}", report.failures());
        assert!(report.is_dead());
        assert_eq!(report.handled(), 0);
    }
    assert_eq!(
        *DEAD.lock().unwrap(),
        vec![("Unheard".to_owned(), 1, 0), ("Unheard".to_owned(), 2, 0)]
    );
}
