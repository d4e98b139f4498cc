//! `Bus::record::<E>()` keeps every `E` the bus delivers, with its
//! envelope, until the `Recorded` is dropped: the given-when-then tool for
//! asserting on the follow-ups a handler publishes. A recorder is no
//! handler: it does not count in `handled()`, and an event only a recorder
//! saw is still dead.
//!
//! Recorders belong to one bus, so tests that share an event type do not
//! see each other's events.

use eventbus::prelude::*;
use eventbus::Origin;

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "recorded.order_placed")]
struct OrderPlaced {
    order: u32,
    cents: u64,
}

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "recorded.payment_charged")]
struct PaymentCharged {
    order: u32,
    cents: u64,
}

#[subscribe]
fn charge_payment(order: &OrderPlaced, ctx: &Context) {
    ctx.publish(PaymentCharged {
        order: order.order,
        cents: order.cents,
    });
}

#[test]
fn follow_ups_are_recorded_with_their_lineage() {
    // Given a bus that records payments,
    let bus = Bus::new();
    let payments = bus.record::<PaymentCharged>();

    // when two orders are placed,
    let first = bus.publish(OrderPlaced {
        order: 1,
        cents: 1_200,
    });
    let second = bus.publish(OrderPlaced {
        order: 2,
        cents: 3_400,
    });

    // then one payment is charged for each, caused by its order.
    assert_eq!(
        payments.events(),
        vec![
            PaymentCharged {
                order: 1,
                cents: 1_200
            },
            PaymentCharged {
                order: 2,
                cents: 3_400
            },
        ]
    );
    assert_eq!(payments.len(), 2);
    assert!(!payments.is_empty());
    let envelopes = payments.envelopes();
    assert_eq!(envelopes.len(), 2);
    for (envelope, order) in envelopes.iter().zip([&first, &second]) {
        assert_eq!(envelope.correlation_id, order.event_id());
        assert_eq!(envelope.causation_id, Some(order.event_id()));
        assert_ne!(envelope.id, order.event_id());
        assert_eq!(envelope.origin, Origin::Local);
    }
    assert!(envelopes[0].sequence < envelopes[1].sequence);
    assert_ne!(envelopes[0].id, envelopes[1].id);
}

#[test]
fn root_events_are_recorded_as_roots() {
    let bus = Bus::new();
    let orders = bus.record::<OrderPlaced>();

    let report = bus.publish(OrderPlaced {
        order: 3,
        cents: 500,
    });

    assert_eq!(
        orders.events(),
        vec![OrderPlaced {
            order: 3,
            cents: 500
        }]
    );
    let envelope = &orders.envelopes()[0];
    assert_eq!(envelope.id, report.event_id());
    assert_eq!(envelope.correlation_id, report.event_id());
    assert_eq!(envelope.causation_id, None);
}

#[test]
fn clear_forgets_what_was_recorded_and_recording_goes_on() {
    let bus = Bus::new();
    let payments = bus.record::<PaymentCharged>();
    assert!(payments.is_empty());
    assert_eq!(payments.len(), 0);

    let _ = bus.publish(OrderPlaced {
        order: 4,
        cents: 100,
    });
    assert_eq!(payments.len(), 1);

    payments.clear();
    assert!(payments.is_empty());
    assert_eq!(payments.events(), Vec::new());
    assert_eq!(payments.envelopes(), Vec::new());

    let report = bus.publish(OrderPlaced {
        order: 5,
        cents: 200,
    });
    assert_eq!(
        payments.events(),
        vec![PaymentCharged {
            order: 5,
            cents: 200
        }]
    );
    assert_eq!(payments.envelopes()[0].correlation_id, report.event_id());
}

#[test]
fn a_recorder_belongs_to_its_bus_and_its_clones() {
    let bus = Bus::new();
    let other = Bus::new();
    let payments = bus.record::<PaymentCharged>();

    let _ = other.publish(OrderPlaced { order: 6, cents: 1 });
    assert!(payments.is_empty());

    let _ = bus.clone().publish(OrderPlaced { order: 7, cents: 2 });
    assert_eq!(
        payments.events(),
        vec![PaymentCharged { order: 7, cents: 2 }]
    );
}

#[tokio::test]
async fn follow_ups_of_async_deliveries_are_recorded() {
    let bus = Bus::new();
    let payments = bus.record::<PaymentCharged>();

    let report = bus
        .publish_async(OrderPlaced {
            order: 8,
            cents: 800,
        })
        .await;
    bus.emit(OrderPlaced {
        order: 9,
        cents: 900,
    })
    .await
    .unwrap();
    bus.idle().await;

    assert_eq!(
        payments.events(),
        vec![
            PaymentCharged {
                order: 8,
                cents: 800
            },
            PaymentCharged {
                order: 9,
                cents: 900
            },
        ]
    );
    assert_eq!(
        payments.envelopes()[0].causation_id,
        Some(report.event_id())
    );
}

// --- a recorder is no handler ------------------------------------------------

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "recorded.shipped")]
struct Shipped {
    parcel: u32,
}

#[subscribe]
fn notify_customer(_: &Shipped) {}

#[test]
fn a_recorder_does_not_count_as_handled() {
    let bus = Bus::new();
    let shipped = bus.record::<Shipped>();

    let report = bus.publish(Shipped { parcel: 1 });

    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert_eq!(shipped.events(), vec![Shipped { parcel: 1 }]);
    assert!(bus
        .handlers()
        .iter()
        .all(|info| info.handler_name() != "eventbus::testing::Recorded"));
}

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "recorded.unheard")]
struct Unheard {
    note: String,
}

#[test]
fn an_event_only_a_recorder_saw_is_still_dead() {
    let bus = Bus::new();
    let unheard = bus.record::<Unheard>();

    let report = bus.publish(Unheard {
        note: "hello?".into(),
    });

    assert!(report.is_dead());
    assert!(report.is_ok());
    assert_eq!(report.handled(), 0);
    assert_eq!(report.scheduled(), 0);
    assert_eq!(
        unheard.events(),
        vec![Unheard {
            note: "hello?".into()
        }]
    );
}

// --- dropping the recorder stops it ------------------------------------------

#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "recorded.pinged")]
struct Pinged {
    n: u32,
}

#[subscribe]
fn answer_ping(_: &Pinged) {}

#[test]
fn recording_stops_when_the_recorded_is_dropped() {
    let bus = Bus::new();

    let first = bus.record::<Pinged>();
    let _ = bus.publish(Pinged { n: 1 });
    assert_eq!(first.events(), vec![Pinged { n: 1 }]);
    assert_eq!(first.envelopes()[0].sequence, 1);
    drop(first);

    // `answer_ping` reads no envelope, so with no recorder left the bus
    // builds none: the sequence only moves while something records.
    let _ = bus.publish(Pinged { n: 2 });
    let _ = bus.publish(Pinged { n: 3 });

    let second = bus.record::<Pinged>();
    let _ = bus.publish(Pinged { n: 4 });
    assert_eq!(second.events(), vec![Pinged { n: 4 }]);
    assert_eq!(second.envelopes()[0].sequence, 2);
}
