//! A `&AnyEvent` handler sees every event published on the bus, can read
//! its name, downcast it and encode it, and is not counted as a handler of
//! the event: an event only a catch-all saw is still dead.
//!
//! The catch-all below sees every event of this test binary, so each test
//! looks only at the records of its own event names.

use eventbus::prelude::*;

use std::sync::Mutex;

/// What the catch-all saw of one event.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: &'static str,
    json: Option<serde_json::Value>,
    /// The `sku` field, when the event downcasts to [`Stocked`].
    stocked_sku: Option<String>,
    is_stocked: bool,
    local: bool,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

#[subscribe]
fn audit(event: &AnyEvent) {
    SEEN.lock().unwrap().push(Seen {
        name: event.name(),
        json: event.to_json(),
        stocked_sku: event.downcast_ref::<Stocked>().map(|e| e.sku.clone()),
        is_stocked: event.is::<Stocked>(),
        local: event.is_local(),
    });
}

fn seen_of(names: &[&str]) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|seen| names.contains(&seen.name))
        .cloned()
        .collect()
}

// --- every event, in order -------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "catch.stocked", version = 3)]
struct Stocked {
    sku: String,
    count: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "catch.sold")]
struct Sold {
    sku: String,
}

static STOCKED_HANDLED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[subscribe]
fn on_stocked(event: &Stocked) {
    STOCKED_HANDLED.lock().unwrap().push(event.count);
}

#[test]
fn the_catch_all_sees_every_event_in_order() {
    let bus = Bus::new();
    let report = bus.publish(Stocked {
        sku: "A-1".into(),
        count: 5,
    });
    // The catch-all is not one of the event's own handlers.
    assert_eq!(report.handled(), 1);
    assert!(!report.is_dead());
    let report = bus.publish(Sold { sku: "A-1".into() });
    assert_eq!(report.handled(), 0);
    let report = bus.publish(Stocked {
        sku: "B-2".into(),
        count: 1,
    });
    assert_eq!(report.handled(), 1);

    assert_eq!(*STOCKED_HANDLED.lock().unwrap(), vec![5, 1]);
    assert_eq!(
        seen_of(&["catch.stocked", "catch.sold"]),
        vec![
            Seen {
                name: "catch.stocked",
                json: Some(serde_json::json!({ "sku": "A-1", "count": 5 })),
                stocked_sku: Some("A-1".into()),
                is_stocked: true,
                local: false,
            },
            Seen {
                name: "catch.sold",
                json: Some(serde_json::json!({ "sku": "A-1" })),
                stocked_sku: None,
                is_stocked: false,
                local: false,
            },
            Seen {
                name: "catch.stocked",
                json: Some(serde_json::json!({ "sku": "B-2", "count": 1 })),
                stocked_sku: Some("B-2".into()),
                is_stocked: true,
                local: false,
            },
        ]
    );
}

// --- to_json text and metadata -----------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "catch.shaped", version = 2)]
struct Shaped {
    id: u64,
    tags: Vec<String>,
    note: Option<String>,
}

type ShapedMeta = (u32, &'static str, Option<serde_json::Value>);

static SHAPED_META: Mutex<Vec<ShapedMeta>> = Mutex::new(Vec::new());

#[subscribe]
fn shaped_meta(event: &AnyEvent) {
    if event.name() == "catch.shaped" {
        SHAPED_META
            .lock()
            .unwrap()
            .push((event.version(), event.type_path(), event.to_json()));
    }
}

#[test]
fn to_json_gives_the_exact_json_and_metadata() {
    let report = Bus::new().publish(Shaped {
        id: 12,
        tags: vec!["x".into(), "y".into()],
        note: None,
    });
    assert!(report.is_dead());
    assert_eq!(
        *SHAPED_META.lock().unwrap(),
        vec![(
            2,
            "catch_all::Shaped",
            Some(serde_json::json!({ "id": 12, "tags": ["x", "y"], "note": null }))
        )]
    );
}

// --- local events ----------------------------------------------------------------------

#[derive(Event, Debug)]
#[event(local, name = "catch.local")]
struct LocalTick {
    #[allow(dead_code)]
    handle: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[test]
fn a_local_event_is_seen_without_json() {
    let report = Bus::new().publish(LocalTick {
        handle: std::sync::Arc::default(),
    });
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert_eq!(
        seen_of(&["catch.local"]),
        vec![Seen {
            name: "catch.local",
            json: None,
            stocked_sku: None,
            is_stocked: false,
            local: true,
        }]
    );
}

// --- an event only the catch-all saw ---------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "catch.orphan")]
struct Orphan {
    n: i8,
}

#[test]
fn an_event_only_the_catch_all_saw_is_still_dead() {
    let report = Bus::new().publish(Orphan { n: -3 });
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(report.is_ok());
    assert_eq!(
        seen_of(&["catch.orphan"]),
        vec![Seen {
            name: "catch.orphan",
            json: Some(serde_json::json!({ "n": -3 })),
            stocked_sku: None,
            is_stocked: false,
            local: false,
        }]
    );
}

// --- the catch-all is listed -------------------------------------------------------------

#[test]
fn the_catch_all_is_listed_under_any_event() {
    let catch_alls: Vec<(&str, &str)> = Bus::new()
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "AnyEvent")
        .map(|info| (info.event_name(), info.handler_name()))
        .collect();
    assert_eq!(
        catch_alls,
        vec![
            ("AnyEvent", "catch_all::audit"),
            ("AnyEvent", "catch_all::shaped_meta"),
        ]
    );
}
