//! A bus on the event log, `Bus::builder().journal(store)`, on SQLite and
//! PostgreSQL: `emit` returns once the event is committed (many producers,
//! few transactions), the handler relay delivers what was emitted, a failed
//! commit hands the event back with nothing delivered, `publish` runs the
//! handlers at once and logs the event as handled, a new bus on the same
//! log goes on from the relays' checkpoints, and of two buses on one log
//! (two processes) one relays at a time.

#[path = "../eventbus-store/tests/support/mod.rs"]
mod support;

#[path = "common/counting.rs"]
mod counting;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use counting::Counting;
use eventbus::layer::BoxFuture;
use eventbus::prelude::*;
use eventbus::store::ExpectedVersion;
use eventbus::{EmitErrorKind, EventRecord, Journal, SendOutcome, Sink, Uuid};
use serde::{Deserialize, Serialize};
use support::TestDb;

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "durable.parcel_shipped")]
struct ParcelShipped {
    parcel: u32,
}

/// Each parcel the handler saw, with the event id it saw it under.
static SEEN: Mutex<Vec<(u32, Uuid)>> = Mutex::new(Vec::new());

#[subscribe]
fn on_parcel(shipped: &ParcelShipped, ctx: &Context) {
    SEEN.lock()
        .unwrap()
        .push((shipped.parcel, ctx.envelope().id));
}

/// Tests in this file share `SEEN`: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the handler saw, cleared for the next test.
fn take_seen() -> Vec<(u32, Uuid)> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

/// Makes the database refuse (`true`) or take again (`false`) every
/// insert into the log, as a full disk or a revoked grant would.
async fn refuse_inserts(db: &TestDb, refuse: bool) {
    let sql = match (db.is_postgres(), refuse) {
        (false, true) => {
            "CREATE TRIGGER refuse_inserts BEFORE INSERT ON eventbus_events \
             BEGIN SELECT RAISE(ABORT, 'the test refuses inserts'); END"
        }
        (false, false) => "DROP TRIGGER refuse_inserts",
        (true, true) => {
            "CREATE FUNCTION refuse_inserts() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'the test refuses inserts'; END $$; \
             CREATE TRIGGER refuse_inserts BEFORE INSERT ON eventbus_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_inserts()"
        }
        (true, false) => {
            "DROP TRIGGER refuse_inserts ON eventbus_events; DROP FUNCTION refuse_inserts()"
        }
    };
    db.execute(sql).await;
}

conformance! {
    async fn sixty_four_producers_share_few_transactions_and_each_event_runs_once(db: &TestDb) {
        const PRODUCERS: u32 = 64;
        const EACH: u32 = 20;
        let _serial = SERIAL.lock().await;
        take_seen();
        let store = db.open().await;
        let journal = Counting::new(store.clone());
        let bus = Bus::builder().journal(journal.clone()).build().unwrap();

        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let bus = bus.clone();
                tokio::spawn(async move {
                    for n in 0..EACH {
                        bus.emit(ParcelShipped { parcel: producer * 1000 + n }).await.unwrap();
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        let total = (PRODUCERS * EACH) as usize;
        // Every acknowledged event is committed, once.
        let logged = store.read_all(0, 10 * total).await.unwrap();
        assert_eq!(logged.len(), total);
        let ids: HashSet<Uuid> = logged.iter().map(|event| event.record.envelope.id).collect();
        assert_eq!(ids.len(), total);
        assert!(logged.iter().all(|event| !event.handled && event.stream == "durable.parcel_shipped"));
        let appends = journal.appends.load(Ordering::Relaxed);
        assert!(appends < total, "{appends} transactions for {total} events: the commits are grouped");

        // The relay hands each to the handler once, under its logged id.
        bus.idle().await;
        let seen = take_seen();
        assert_eq!(seen.len(), total);
        let logged_ids: HashMap<u32, Uuid> = logged
            .iter()
            .map(|event| (event.decode::<ParcelShipped>().unwrap().parcel, event.record.envelope.id))
            .collect();
        for (parcel, id) in seen {
            assert_eq!(logged_ids.get(&parcel), Some(&id), "parcel {parcel}");
        }
        bus.shutdown().await;
    }

    async fn a_refused_commit_hands_the_event_back_and_delivers_nothing(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        take_seen();
        let store = db.open().await;
        let bus = Bus::builder().journal(store.clone()).build().unwrap();
        refuse_inserts(db, true).await;

        let refused = bus.emit(ParcelShipped { parcel: 1 }).await.unwrap_err();
        assert_eq!(refused.kind(), EmitErrorKind::NotCommitted);
        let message = refused.to_string();
        assert!(
            message.starts_with("the bus's journal did not store the event (could not append event ")
                && message.contains("to stream `durable.parcel_shipped`: ")
                && message.contains("the test refuses inserts")
                && message.ends_with(
                    "); `durable::ParcelShipped` was handed back and nothing was delivered: emit \
                     it again"
                ),
            "{message}"
        );
        assert_eq!(refused.into_inner().parcel, 1);
        bus.idle().await;
        assert_eq!(take_seen(), []);
        assert!(store.read_all(0, 10).await.unwrap().is_empty());

        // Once the database takes inserts again, so does the bus.
        refuse_inserts(db, false).await;
        bus.emit(ParcelShipped { parcel: 2 }).await.unwrap();
        bus.idle().await;
        let seen: Vec<u32> = take_seen().into_iter().map(|(parcel, _)| parcel).collect();
        assert_eq!(seen, [2]);
        bus.shutdown().await;
    }

    async fn publish_runs_the_handlers_once_and_the_relay_skips_what_was_handled(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        take_seen();
        let store = db.open().await;
        let bus = Bus::builder().journal(store.clone()).build().unwrap();

        let published = bus.publish(ParcelShipped { parcel: 3 });
        let awaited = bus.publish_async(ParcelShipped { parcel: 4 }).await;
        bus.emit_to("parcels-north", ParcelShipped { parcel: 5 }).await.unwrap();
        bus.idle().await;
        let logged = store.read_all(0, 10).await.unwrap();
        let rows: Vec<_> = logged
            .iter()
            .map(|event| (event.record.envelope.id, event.stream.as_str(), event.handled))
            .collect();
        assert_eq!(rows[..2], [
            (published.event_id(), "durable.parcel_shipped", true),
            (awaited.event_id(), "durable.parcel_shipped", true),
        ]);
        assert_eq!((rows[2].1, rows[2].2), ("parcels-north", false));
        let mut seen: Vec<u32> = take_seen().into_iter().map(|(parcel, _)| parcel).collect();
        seen.sort_unstable();
        assert_eq!(seen, [3, 4, 5]);
        bus.shutdown().await;
        assert_eq!(Journal::checkpoint(&store, "handlers").await.unwrap(), 3);
    }

    async fn a_new_bus_on_the_log_goes_on_from_the_checkpoints(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        take_seen();
        let store = db.open().await;
        let first = Bus::builder().journal(store.clone()).build().unwrap();
        for parcel in 10..13 {
            first.emit(ParcelShipped { parcel }).await.unwrap();
        }
        first.idle().await;
        first.shutdown().await;
        assert_eq!(take_seen().len(), 3);

        // Another program appends an event nobody has handled yet.
        let record = EventRecord::from_event(&ParcelShipped { parcel: 13 }, eventbus::Envelope::generate()).unwrap();
        let id = record.envelope.id;
        store.append("durable.parcel_shipped", ExpectedVersion::Any, &[record]).await.unwrap();

        // A new bus (a restart) with a sink: the handler relay goes on from
        // its checkpoint, the sink's new relay reads the log from the start.
        let outbox = Outbox::default();
        let second = Bus::builder()
            .journal(store.clone())
            .sink("outbox", outbox.clone())
            .build()
            .unwrap();
        second.idle().await;
        second.flush().await;
        for _ in 0..500 {
            if !SEEN.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(take_seen(), [(13, id)], "only the new event reaches the handler");
        let mut sent = outbox.sent();
        sent.sort_unstable();
        assert_eq!(sent, [10, 11, 12, 13]);
        second.shutdown().await;
        assert_eq!(Journal::checkpoint(&store, "handlers").await.unwrap(), 4);
        assert_eq!(Journal::checkpoint(&store, "sink:outbox").await.unwrap(), 4);
        // A relay that lost its claim partway through a batch cannot move
        // the checkpoint back.
        Journal::save_checkpoint(&store, "handlers", 2).await.unwrap();
        assert_eq!(Journal::checkpoint(&store, "handlers").await.unwrap(), 4);
    }
}

conformance! {
    async fn one_bus_at_a_time_relays_the_log_and_another_takes_over_when_it_stops(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        take_seen();
        // Two stores on one database: two processes.
        let first = Bus::builder().journal(db.open().await).build().unwrap();
        first.emit(ParcelShipped { parcel: 40 }).await.unwrap();
        first.idle().await;
        assert_eq!(take_seen().len(), 1, "the first bus's relay holds the log");
        let second = Bus::builder().journal(db.open().await).build().unwrap();

        // Both emit at once; one relay hands each event to the handler.
        let (a, b) = (first.clone(), second.clone());
        let emitting = [
            tokio::spawn(async move {
                for parcel in 100..150 {
                    a.emit(ParcelShipped { parcel }).await.unwrap();
                }
            }),
            tokio::spawn(async move {
                for parcel in 200..250 {
                    b.emit(ParcelShipped { parcel }).await.unwrap();
                }
            }),
        ];
        for producer in emitting {
            producer.await.unwrap();
        }
        first.idle().await;
        second.idle().await;
        let mut seen: Vec<u32> = take_seen().into_iter().map(|(parcel, _)| parcel).collect();
        seen.sort_unstable();
        let expected: Vec<u32> = (100..150).chain(200..250).collect();
        assert_eq!(seen, expected, "each event once");

        // The first stops and releases the relay: the second takes over.
        first.shutdown().await;
        second.emit(ParcelShipped { parcel: 300 }).await.unwrap();
        second.idle().await;
        let seen: Vec<u32> = take_seen().into_iter().map(|(parcel, _)| parcel).collect();
        assert_eq!(seen, [300]);
        second.shutdown().await;
    }
}

/// A sink that keeps the parcel of each record it is handed.
#[derive(Clone, Default)]
struct Outbox(Arc<Mutex<Vec<u32>>>);

impl Outbox {
    fn sent(&self) -> Vec<u32> {
        self.0.lock().unwrap().clone()
    }
}

impl Sink for Outbox {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|record| {
                    let shipped: ParcelShipped = record.decode().unwrap();
                    self.0.lock().unwrap().push(shipped.parcel);
                    SendOutcome::Sent
                })
                .collect()
        })
    }
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "durable.card_charged")]
struct CardCharged {
    cents: u32,
}

/// Whether the card processor is down: the handler fails while it is.
static PROCESSOR_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

#[subscribe]
fn book_charge(charged: &CardCharged) -> Result<(), String> {
    if PROCESSOR_DOWN.load(Ordering::Acquire) {
        return Err(format!("the processor is down ({} cents)", charged.cents));
    }
    Ok(())
}

conformance! {
    async fn dead_letters_are_kept_in_the_log_retried_with_their_envelope_and_purged(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        PROCESSOR_DOWN.store(true, Ordering::Release);
        let store = db.open().await;
        let letters = eventbus::store::StoreDeadLetters::new(&store);
        let bus = Bus::builder()
            .journal(store.clone())
            .dead_letters(letters.clone())
            .build()
            .unwrap();

        let first = bus.publish_async(CardCharged { cents: 250 }).await;
        let second = bus.publish_async(CardCharged { cents: 990 }).await;
        assert_eq!((first.failures().len(), second.failures().len()), (1, 1));
        letters.written().await;
        let kept = letters.list(10).await.unwrap();
        let rows: Vec<_> = kept
            .iter()
            .map(|letter| {
                (
                    letter.event_id,
                    letter.name.as_str(),
                    letter.handler.as_deref(),
                    letter.sink.as_deref(),
                    letter.error.as_str(),
                    letter.attempts,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    first.event_id(),
                    "durable.card_charged",
                    Some("durable::book_charge"),
                    None,
                    "returned an error: the processor is down (250 cents)",
                    1
                ),
                (
                    second.event_id(),
                    "durable.card_charged",
                    Some("durable::book_charge"),
                    None,
                    "returned an error: the processor is down (990 cents)",
                    1
                ),
            ]
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&kept[0].payload).unwrap(), serde_json::json!({ "cents": 250 }));

        // Still down: the retry fails and the letter stays.
        let again = letters.retry(kept[0].id, &bus).await.unwrap();
        assert_eq!(again.failures().len(), 1);
        // Up again: the retry succeeds, with the original event id, and
        // the letter goes.
        PROCESSOR_DOWN.store(false, Ordering::Release);
        let retried = letters.retry(kept[0].id, &bus).await.unwrap();
        assert!(retried.is_ok());
        assert_eq!(retried.event_id(), first.event_id());
        letters.written().await;
        let left: Vec<Uuid> = letters.list(10).await.unwrap().iter().map(|letter| letter.event_id).collect();
        // The failed retry wrote a letter of its own for the first event.
        assert_eq!(left, [second.event_id(), first.event_id()]);
        assert_eq!(letters.purge(None).await.unwrap(), 2);
        assert!(letters.list(10).await.unwrap().is_empty());
        let missing = letters.retry(kept[1].id, &bus).await.unwrap_err();
        assert_eq!(missing.to_string(), format!("there is no dead letter {}: list them with `list`", kept[1].id));
        bus.shutdown().await;
    }
}
