//! Records in and out: every event shape round-trips through
//! `EventRecord` -> JSON -> `deliver` with its envelope kept; every bad
//! record is an error that delivers nothing; the JSON form is the pinned
//! webhook body.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventbus::prelude::*;
use eventbus::{Envelope, EventRecord, Origin, PublishError, Uuid};
use serde::{Deserialize, Serialize};

/// What a handler saw: the event's `Debug` text and its envelope.
static SEEN: Mutex<Vec<(String, Envelope)>> = Mutex::new(Vec::new());

fn seen(event: &impl std::fmt::Debug, ctx: &Context) {
    SEEN.lock()
        .unwrap()
        .push((format!("{event:?}"), ctx.envelope().clone()));
}

fn take_seen() -> Vec<(String, Envelope)> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

/// Tests in this file share `SEEN`: one at a time (a tokio lock,
/// held across the awaits of the async tests).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// --- every event shape --------------------------------------------------------

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.struct")]
struct Plain {
    order: u32,
    note: String,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.tuple")]
struct Pair(u8, String);

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.unit")]
struct Ping;

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.enum")]
enum Shape {
    Circle { radius: f64 },
    Square(u32),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.nested")]
struct Basket {
    lines: Vec<Line>,
    tags: BTreeMap<String, u32>,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.optional")]
struct Maybe {
    coupon: Option<String>,
    discount: Option<u32>,
}

#[derive(Event, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[event(name = "records.renamed")]
#[serde(rename_all = "camelCase")]
struct Renamed {
    order_id: u32,
    #[serde(rename = "total")]
    total_cents: u64,
}

#[subscribe]
fn on_plain(event: &Plain, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_pair(event: &Pair, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_ping(event: &Ping, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_shape(event: &Shape, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_basket(event: &Basket, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_maybe(event: &Maybe, ctx: &Context) {
    seen(event, ctx);
}

#[subscribe]
fn on_renamed(event: &Renamed, ctx: &Context) {
    seen(event, ctx);
}

/// An envelope as another process would send it: its own id, an earlier
/// time, a correlation and a cause of its own.
fn foreign_envelope() -> Envelope {
    Envelope::generate()
        .with_timestamp(UNIX_EPOCH + Duration::new(1_765_000_000, 123_456_789))
        .with_correlation_id(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
        .with_causation_id(Some(Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0002,
        )))
}

/// Sends `event` through `to_record` -> JSON -> `deliver` and checks that
/// the handler got it back equal, under the sender's envelope.
fn round_trip<E: Event + std::fmt::Debug>(bus: &Bus, event: &E, payload: &str) {
    let envelope = foreign_envelope();
    let record = EventRecord::from_event(event, envelope.clone()).unwrap();
    assert_eq!(record.payload_str(), Some(payload));
    let json = record.to_json();
    let read = EventRecord::from_json(json.as_bytes())
        .unwrap_or_else(|error| panic!("{json} does not read back: {error}"));
    assert_eq!(read.name, E::NAME);
    assert_eq!(read.version, 1);
    assert_eq!(read.payload_str(), Some(payload));

    let report = bus.deliver(read).unwrap();
    assert_eq!((report.handled(), report.event_id()), (1, envelope.id));
    let seen = take_seen();
    assert_eq!(seen.len(), 1, "{}", E::NAME);
    let (text, got) = &seen[0];
    assert_eq!(text, &format!("{event:?}"));
    assert_eq!(got.id, envelope.id);
    assert_eq!(got.timestamp, envelope.timestamp);
    assert_eq!(got.correlation_id, envelope.correlation_id);
    assert_eq!(got.causation_id, envelope.causation_id);
    // Read back from JSON: from outside, through no named transport.
    assert_eq!(got.origin, Origin::Remote);
    assert_eq!(got.source, None);
}

#[test]
fn every_event_shape_round_trips_through_json_and_deliver_with_its_envelope() {
    let _serial = SERIAL.blocking_lock();
    let bus = Bus::new();
    take_seen();
    round_trip(
        &bus,
        &Plain {
            order: 7,
            note: "gift \"wrap\"".into(),
        },
        r#"{"order":7,"note":"gift \"wrap\""}"#,
    );
    round_trip(&bus, &Pair(3, "three".into()), r#"[3,"three"]"#);
    round_trip(&bus, &Ping, "null");
    round_trip(
        &bus,
        &Shape::Circle { radius: 1.5 },
        r#"{"Circle":{"radius":1.5}}"#,
    );
    round_trip(&bus, &Shape::Square(4), r#"{"Square":4}"#);
    round_trip(&bus, &Shape::Empty, r#""Empty""#);
    round_trip(
        &bus,
        &Basket {
            lines: vec![
                Line {
                    sku: "tea".into(),
                    quantity: 2,
                },
                Line {
                    sku: "cup".into(),
                    quantity: 1,
                },
            ],
            tags: BTreeMap::from([("gift".into(), 1), ("bulk".into(), 0)]),
        },
        r#"{"lines":[{"sku":"tea","quantity":2},{"sku":"cup","quantity":1}],"tags":{"bulk":0,"gift":1}}"#,
    );
    round_trip(
        &bus,
        &Maybe {
            coupon: Some("WINTER".into()),
            discount: None,
        },
        r#"{"coupon":"WINTER","discount":null}"#,
    );
    round_trip(
        &bus,
        &Renamed {
            order_id: 9,
            total_cents: 1250,
        },
        r#"{"orderId":9,"total":1250}"#,
    );
}

#[test]
fn the_json_form_is_the_webhook_body_with_the_payload_in_field_order() {
    let envelope = Envelope::new(Uuid::from_u128(0x0193_9c3f_7a10_7000_8000_0000_0000_00aa))
        .with_timestamp(UNIX_EPOCH + Duration::new(1_765_036_923, 123_456_789))
        .with_correlation_id(Uuid::from_u128(0x0193_9c3f_7a10_7000_8000_0000_0000_00bb))
        .with_causation_id(Some(Uuid::from_u128(
            0x0193_9c3f_7a10_7000_8000_0000_0000_00cc,
        )));
    let record = EventRecord::from_event(
        &Renamed {
            order_id: 9,
            total_cents: 1250,
        },
        envelope,
    )
    .unwrap();
    assert_eq!(
        record.to_json(),
        concat!(
            r#"{"event":"records.renamed","payload":{"orderId":9,"total":1250},"#,
            r#""id":"01939c3f-7a10-7000-8000-0000000000aa","version":1,"#,
            r#""timestamp":"2025-12-06T16:02:03.123456789Z","#,
            r#""correlation_id":"01939c3f-7a10-7000-8000-0000000000bb","#,
            r#""causation_id":"01939c3f-7a10-7000-8000-0000000000cc"}"#
        )
    );
    let root = EventRecord::from_event(&Ping, Envelope::new(Uuid::nil())).unwrap();
    assert!(root.to_json().ends_with(r#""causation_id":null}"#));
}

#[test]
fn the_original_body_reads_as_a_record_with_everything_else_made_up() {
    let before = SystemTime::now();
    let record = EventRecord::from_json(
        br#"{"event": "records.struct", "payload": {"order": 1, "note": "hi"}}"#,
    )
    .unwrap();
    assert_eq!(record.name, "records.struct");
    assert_eq!(record.version, 1);
    assert_eq!(record.payload_str(), Some(r#"{"order": 1, "note": "hi"}"#));
    assert_eq!(record.envelope.id.get_version_num(), 7);
    assert_eq!(record.envelope.correlation_id, record.envelope.id);
    assert_eq!(record.envelope.causation_id, None);
    assert_eq!(record.envelope.origin, Origin::Remote);
    assert!(record.envelope.timestamp >= before);
    assert_eq!(
        record.decode::<Plain>().unwrap(),
        Plain {
            order: 1,
            note: "hi".into()
        }
    );
}

#[test]
fn a_timestamp_with_an_offset_reads_as_the_same_instant() {
    let record = EventRecord::from_json(
        br#"{"event":"records.unit","payload":null,"timestamp":"2025-12-06T17:02:03.5+01:00"}"#,
    )
    .unwrap();
    assert_eq!(
        record.envelope.timestamp,
        UNIX_EPOCH + Duration::new(1_765_036_923, 500_000_000)
    );
}

#[test]
fn json_that_is_not_a_record_says_what_is_wrong() {
    let error = |json: &str| {
        EventRecord::from_json(json.as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(r#"{"payload": {}}"#),
        "missing field `event` at line 1 column 15"
    );
    assert_eq!(
        error(r#"{"event": "records.unit"}"#),
        "missing field `payload` at line 1 column 25"
    );
    assert_eq!(
        error(r#"{"event": "records.unit", "payload": null, "id": "seven"}"#),
        "UUID parsing failed: invalid character: found `s` at 0 at line 1 column 56"
    );
    assert_eq!(
        error(r#"{"event": "records.unit", "payload": null, "timestamp": "yesterday"}"#),
        "`timestamp` is not an RFC 3339 time (`2026-12-06T16:02:03Z`): the 'year' component could not be parsed"
    );
}

// --- bad records -------------------------------------------------------------

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "records.invoice_paid", version = 2)]
struct InvoicePaid {
    invoice: u32,
}

#[derive(Event, Debug)]
#[event(name = "records.local_tick", local)]
struct LocalTick;

static PAID: Mutex<u32> = Mutex::new(0);

#[subscribe]
fn on_paid(_: &InvoicePaid) {
    *PAID.lock().unwrap() += 1;
}

#[subscribe]
fn on_local_tick(_: &LocalTick) {
    *PAID.lock().unwrap() += 100;
}

fn record(name: &'static str, version: u32, payload: &str) -> EventRecord {
    EventRecord::new(
        name,
        version,
        payload.as_bytes().to_vec(),
        Envelope::generate(),
    )
}

#[tokio::test]
async fn every_bad_record_is_an_error_and_delivers_nothing() {
    let bus = Bus::new();
    let cases = [
        (
            record("records.invoice_payd", 2, r#"{"invoice":1}"#),
            "no event type is registered under the name `records.invoice_payd`; did you mean `records.invoice_paid` or `records.order_placed` or `records.nested`?",
        ),
        (
            record("records.invoice_paid", 2, r#"{"invoice":"one"}"#),
            "the JSON for event `records.invoice_paid` does not decode into `records::InvoicePaid`: invalid type: string \"one\", expected u32 at line 1 column 16",
        ),
        (
            record("records.invoice_paid", 2, "{\"invoice\":"),
            "the JSON for event `records.invoice_paid` does not decode into `records::InvoicePaid`: EOF while parsing a value at line 1 column 11",
        ),
        (
            record("records.invoice_paid", 1, r#"{"invoice":1}"#),
            "no upcaster turns event `records.invoice_paid` from version 1 into version 2: add a function with `#[upcast(event = .., from = 1)]`",
        ),
        (
            record("records.local_tick", 1, "null"),
            "the event `records.local_tick` (`records::LocalTick`) is local: it is never decoded from JSON; remove `#[event(local)]` and derive `Serialize` and `Deserialize` to accept it by name",
        ),
        (
            record("records.invoice_paid", 3, r#"{"invoice":1}"#),
            "the record of event `records.invoice_paid` is at version 3, but this program knows it only up to version 2; read it with a build that knows version 3",
        ),
    ];
    for (record, message) in cases {
        let sync = bus.deliver(record.clone()).unwrap_err();
        assert_eq!(sync.to_string(), message);
        let awaited = bus.deliver_async(record.clone()).await.unwrap_err();
        assert_eq!(awaited.to_string(), message);
        let grouped = bus
            .deliver_to_handler(record, "records::on_paid")
            .unwrap_err();
        assert_eq!(grouped.to_string(), message);
    }
    assert_eq!(*PAID.lock().unwrap(), 0);

    let good = record("records.invoice_paid", 2, r#"{"invoice":1}"#);
    assert_eq!(bus.deliver(good).unwrap().handled(), 1);
    assert_eq!(*PAID.lock().unwrap(), 1);
}

#[test]
fn decoding_a_record_as_another_type_is_an_error() {
    let paid = record("records.invoice_paid", 2, r#"{"invoice":1}"#);
    assert!(matches!(
        paid.decode::<Plain>(),
        Err(PublishError::WrongEvent { expected: "records.struct", ref found }) if found == "records.invoice_paid"
    ));
    assert_eq!(paid.decode::<InvoicePaid>().unwrap().invoice, 1);
}

// --- lineage -------------------------------------------------------------------

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "records.order_placed")]
struct OrderPlaced {
    order: u32,
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "records.receipt_sent")]
struct ReceiptSent {
    order: u32,
}

#[subscribe]
fn send_receipt(placed: &OrderPlaced, ctx: &Context) {
    seen(placed, ctx);
    ctx.publish(ReceiptSent {
        order: placed.order,
    });
}

#[subscribe]
fn receipt_sent(sent: &ReceiptSent, ctx: &Context) {
    seen(sent, ctx);
}

#[test]
fn follow_ups_of_a_delivered_record_carry_its_correlation_and_the_bus_numbers_it() {
    let _serial = SERIAL.blocking_lock();
    let bus = Bus::new();
    take_seen();
    let mut envelope = foreign_envelope().with_source("rabbitmq");
    envelope.sequence = 999;
    let record = EventRecord::from_event(&OrderPlaced { order: 5 }, envelope.clone()).unwrap();

    assert_eq!(bus.deliver(record).unwrap().handled(), 1);

    let seen = take_seen();
    assert_eq!(seen.len(), 2);
    let (placed, receipt) = (&seen[0].1, &seen[1].1);
    assert_eq!(seen[0].0, "OrderPlaced { order: 5 }");
    assert_eq!(placed.id, envelope.id);
    assert_eq!(placed.source.as_deref(), Some("rabbitmq"));
    assert_eq!(placed.origin, Origin::Remote);
    // The bus's own numbering, not the sender's.
    assert_eq!(placed.sequence, 1);
    assert_eq!(seen[1].0, "ReceiptSent { order: 5 }");
    assert_eq!(receipt.correlation_id, envelope.correlation_id);
    assert_eq!(receipt.causation_id, Some(envelope.id));
    assert_eq!(receipt.origin, Origin::Local);
    assert_eq!(receipt.source, None);
    assert_eq!(receipt.sequence, 2);
}
