//! Event ids: UUID v7, unique, and each greater than every id made before
//! it in the process, also within one millisecond and across threads, so
//! that records can be sorted and de-duplicated by id.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use eventbus::prelude::*;
use eventbus::Uuid;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Numbered;

/// An id made the way the bus makes one: `Report::event_id()` of an event
/// nobody handles makes it on demand.
fn next_id(bus: &Bus) -> Uuid {
    bus.publish(Numbered).event_id()
}

#[test]
fn ten_thousand_ids_in_a_row_are_strictly_increasing_v7_ids_of_now() {
    let bus = Bus::new();
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let ids: Vec<Uuid> = (0..10_000).map(|_| next_id(&bus)).collect();
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();

    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1], "{} is not below {}", pair[0], pair[1]);
    }
    for id in [ids[0], ids[9_999]] {
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
        let millis = u128::from(seconds) * 1000 + u128::from(nanos / 1_000_000);
        // 10,000 ids fit in the counters of a few milliseconds, so the
        // time part stays within a second of the clock.
        assert!(
            millis + 1 >= before.as_millis(),
            "{millis} before {before:?}"
        );
        assert!(
            millis <= after.as_millis() + 1_000,
            "{millis} after {after:?}"
        );
    }
}

#[test]
fn ids_made_on_four_threads_at_once_are_unique_and_increasing_on_each() {
    let bus = Bus::new();
    let per_thread: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..5_000).map(|_| next_id(&bus)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let mut all = HashSet::new();
    for ids in &per_thread {
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} is not below {}", pair[0], pair[1]);
        }
        all.extend(ids.iter().copied());
    }
    assert_eq!(all.len(), 20_000);
}

// --- one id per event, on every path ----------------------------------------

/// Has a handler that takes the context and fails, and an async handler,
/// so every path delivers it through the general path.
#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "ids.checked")]
struct Checked;

/// The envelope ids and timestamps `inspect` saw, in order.
static SEEN: std::sync::Mutex<Vec<(Uuid, SystemTime)>> = std::sync::Mutex::new(Vec::new());

#[subscribe]
fn inspect(_: &Checked, ctx: &Context) -> Result<(), String> {
    let envelope = ctx.envelope();
    SEEN.lock().unwrap().push((envelope.id, envelope.timestamp));
    Err("checked".into())
}

#[subscribe]
async fn inspect_later(_: &Checked) {}

/// The milliseconds since the Unix epoch that an id's time part holds.
fn id_millis(id: Uuid) -> u128 {
    let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
    u128::from(seconds) * 1000 + u128::from(nanos / 1_000_000)
}

#[tokio::test]
async fn the_handler_sees_the_id_its_failure_and_report_carry_on_every_path() {
    let hooked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let bus = Bus::builder()
        .on_error({
            let hooked = std::sync::Arc::clone(&hooked);
            move |failure| hooked.lock().unwrap().push(failure.event_id())
        })
        .build()
        .unwrap();

    let published = bus.publish(Checked);
    let awaited = bus.publish_async(Checked).await;
    bus.emit(Checked).await.unwrap();
    bus.idle().await;

    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, published.event_id());
    assert_eq!(published.failures()[0].event_id(), seen[0].0);
    assert_eq!(seen[1].0, awaited.event_id());
    assert_eq!(awaited.failures()[0].event_id(), seen[1].0);
    assert_eq!(
        *hooked.lock().unwrap(),
        vec![seen[0].0, seen[1].0, seen[2].0]
    );
    let millis = |timestamp: SystemTime| timestamp.duration_since(UNIX_EPOCH).unwrap().as_millis();
    // Published at once: the id and the timestamp come from one reading of
    // the clock.
    assert_eq!(id_millis(seen[0].0), millis(seen[0].1));
    assert_eq!(id_millis(seen[1].0), millis(seen[1].1));
    // Queued: the worker made the id before the delivery read the clock.
    assert!(id_millis(seen[2].0) <= millis(seen[2].1));
}
