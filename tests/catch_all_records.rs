//! A catch-all handler forwards every event as a record: `AnyEvent::to_record`
//! with the context's envelope. In a file of its own: a catch-all sees
//! every event of its test binary.

use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{EventRecord, Origin, RecordError};

static FORWARDED: Mutex<Vec<Result<EventRecord, String>>> = Mutex::new(Vec::new());

#[subscribe]
fn forward(event: &AnyEvent, ctx: &Context) {
    FORWARDED.lock().unwrap().push(
        event
            .to_record(ctx.envelope())
            .map_err(|error| match error {
                RecordError::LocalEvent { name, .. } => format!("local {name}"),
                other => other.to_string(),
            }),
    );
}

#[derive(Event, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "catch_all_records.shipped", version = 4)]
struct Shipped {
    parcel: u32,
    carrier: String,
}

#[derive(Event)]
#[event(name = "catch_all_records.tick", local)]
struct Tick;

#[test]
fn a_catch_all_turns_each_event_into_its_record() {
    let bus = Bus::new();
    let report = bus.publish(Shipped {
        parcel: 8,
        carrier: "post".into(),
    });
    let _ = bus.publish(Tick);

    let forwarded = std::mem::take(&mut *FORWARDED.lock().unwrap());
    assert_eq!(forwarded.len(), 2);
    let record = forwarded[0].as_ref().unwrap();
    assert_eq!(record.name, "catch_all_records.shipped");
    assert_eq!(record.version, 4);
    assert_eq!(
        record.payload_str(),
        Some(r#"{"parcel":8,"carrier":"post"}"#)
    );
    assert_eq!(record.envelope.id, report.event_id());
    assert_eq!(record.envelope.origin, Origin::Local);
    assert_eq!(record.envelope.sequence, 1);
    assert_eq!(
        record.decode::<Shipped>().unwrap(),
        Shipped {
            parcel: 8,
            carrier: "post".into()
        }
    );
    assert_eq!(forwarded[1], Err("local catch_all_records.tick".to_owned()));
}
