//! What outside code can do wrong does not lose events or hang the bus:
//! a sink or a journal that panics, a hook that panics on a sink's
//! worker, a journal that cannot be read at shutdown, a timestamp out of
//! range; and the journal's relay drains what was committed before a
//! shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventbus::layer::BoxFuture;
use eventbus::prelude::*;
use eventbus::{
    Envelope, EventRecord, Journal, MemoryDeadLetters, MemoryJournal, SendOutcome, Sink, SinkRetry,
};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "robustness.order")]
struct Order(u32);

static ORDERS: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn on_order(_: &Order) {
    // A handler that takes a little time (a database write).
    std::thread::sleep(Duration::from_millis(20));
    ORDERS.fetch_add(1, Ordering::SeqCst);
}

/// Emitted (committed) events that the handler relay has not delivered
/// yet when `shutdown` starts are still delivered: the relay drains the
/// log as the queue drains its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitted_events_survive_shutdown() {
    let journal = MemoryJournal::new();
    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .journal(journal.clone())
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    for n in 0..20 {
        bus.emit(Order(n)).await.unwrap();
    }
    bus.shutdown().await;
    assert_eq!(
        ORDERS.load(Ordering::SeqCst),
        20,
        "every event whose emit returned is handled"
    );
    assert_eq!(dead.len(), 0);
    assert_eq!(journal.checkpoint("handlers").await.unwrap(), 20);
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "robustness.ping")]
struct Ping(u32);

/// A sink whose `send` panics before it returns its future.
struct PanicsAtCall;

impl Sink for PanicsAtCall {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        let first: Ping = records[0].decode().unwrap();
        assert!(first.0 != 1, "the sink could not take record 1");
        Box::pin(async move { records.iter().map(|_| SendOutcome::Sent).collect() })
    }
}

/// A sink whose `send` panics before it returns its future: the record
/// is tried again, then dead-lettered; flush and shutdown return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_panics_in_send_does_not_hang_flush() {
    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .sink("bad", PanicsAtCall)
        .sink_retry(SinkRetry::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .dead_letters(dead.clone())
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(bus.publish(Ping(1)).is_ok());
    let flushed = tokio::time::timeout(Duration::from_secs(3), bus.flush()).await;
    assert!(flushed.is_ok(), "flush returns");
    let stats = bus.sinks();
    assert_eq!(
        (stats[0].sent, stats[0].failed, stats[0].waiting),
        (0, 1, 0)
    );
    let letters = dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].message,
        "sink `bad` could not send the record: the sink panicked: the sink could not take record 1"
    );
    let shut = tokio::time::timeout(Duration::from_secs(3), bus.shutdown()).await;
    assert!(shut.is_ok(), "shutdown returns");
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "robustness.pong")]
struct Pong(u32);

struct Refuses;

impl Sink for Refuses {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|_| SendOutcome::Failed("refused".into()))
                .collect()
        })
    }
}

/// With `catch_panics(false)`, an `on_error` hook that panics on the
/// sink's worker is caught there: the worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_on_error_hook_does_not_kill_the_sink_worker() {
    let bus = Bus::builder()
        .sink("refuses", Refuses)
        .catch_panics(false)
        .on_error(|failure| panic!("on_error: {failure}"))
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let _ = bus.publish(Pong(1));
    let _ = bus.publish(Pong(2));
    let flushed = tokio::time::timeout(Duration::from_secs(3), bus.flush()).await;
    assert!(flushed.is_ok(), "flush returns");
    let stats = bus.sinks();
    assert_eq!(
        (stats[0].sent, stats[0].failed, stats[0].waiting),
        (0, 2, 0)
    );
    let shut = tokio::time::timeout(Duration::from_secs(3), bus.shutdown()).await;
    assert!(shut.is_ok(), "shutdown returns");
}

/// A record whose timestamp RFC 3339 cannot hold: writing it is an
/// error, not a panic.
#[test]
fn a_far_timestamp_is_an_error_not_a_panic() {
    let mut envelope = Envelope::generate();
    envelope.timestamp = std::time::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
    let record = EventRecord::from_event(&Ping(3), envelope).unwrap();
    let error = serde_json::to_string(&record).unwrap_err().to_string();
    assert!(
        error.starts_with("the timestamp cannot be written as RFC 3339: "),
        "{error}"
    );
}

/// A journal around a `MemoryJournal`: its appends can panic once, its
/// reads can fail.
#[derive(Clone, Default)]
struct Faulty {
    inner: MemoryJournal,
    panic_next_append: Arc<std::sync::atomic::AtomicBool>,
    reads_fail: Arc<std::sync::atomic::AtomicBool>,
}

impl Journal for Faulty {
    fn append<'a>(
        &'a self,
        entries: &'a [eventbus::JournalEntry],
    ) -> BoxFuture<'a, Result<Vec<u64>, eventbus::BoxError>> {
        Box::pin(async move {
            assert!(
                !self.panic_next_append.swap(false, Ordering::SeqCst),
                "the database driver panicked"
            );
            self.inner.append(entries).await
        })
    }
    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<eventbus::Logged>, eventbus::BoxError>> {
        Box::pin(async move {
            if self.reads_fail.load(Ordering::SeqCst) {
                return Err("the database is down".into());
            }
            self.inner.read_after(after, limit).await
        })
    }
    fn checkpoint<'a>(&'a self, relay: &'a str) -> BoxFuture<'a, Result<u64, eventbus::BoxError>> {
        self.inner.checkpoint(relay)
    }
    fn save_checkpoint<'a>(
        &'a self,
        relay: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), eventbus::BoxError>> {
        self.inner.save_checkpoint(relay, position)
    }
}

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "robustness.note")]
struct Note(u32);

/// A journal whose append panics: the published event in that commit
/// goes to `on_error` and the dead letters, and the committer goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_append_is_reported() {
    let journal = Faulty::default();
    journal.panic_next_append.store(true, Ordering::SeqCst);
    let dead = MemoryDeadLetters::new();
    let errors = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&errors);
    let bus = Bus::builder()
        .journal(journal.clone())
        .dead_letters(dead.clone())
        .on_error(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let report = bus.publish(Note(1));
    assert!(
        report.is_ok(),
        "the handlers ran; the commit is not awaited"
    );
    for _ in 0..100 {
        if dead.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(errors.load(Ordering::SeqCst), 1);
    let letters = dead.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_id, report.event_id());
    assert_eq!(
        letters[0].message,
        "the journal did not store the event: the journal panicked: the database driver panicked"
    );
    // The committer goes on.
    bus.emit(Note(2)).await.unwrap();
    assert_eq!(journal.inner.records().len(), 1);
    bus.shutdown().await;
}

/// While the journal cannot be read, `shutdown` returns after its
/// timeout, and what was not relayed stays in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_while_the_journal_cannot_be_read() {
    let journal = Faulty::default();
    journal.reads_fail.store(true, Ordering::SeqCst);
    let bus = Bus::builder()
        .journal(journal.clone())
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    bus.emit(Note(3)).await.unwrap();
    let shut = tokio::time::timeout(Duration::from_secs(5), bus.shutdown()).await;
    assert!(shut.is_ok(), "shutdown returns");
    // Not relayed: it stays in the log, not handled, for the next run.
    let logged = journal.inner.records();
    assert_eq!(logged.len(), 1);
    assert!(!logged[0].handled);
    assert_eq!(journal.inner.checkpoint("handlers").await.unwrap(), 0);
}

/// A sink that never answers.
struct Stuck;

impl Sink for Stuck {
    fn send<'a>(&'a self, _: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(std::future::pending())
    }
}

/// After a shutdown whose time for the sinks ran out, `emit` and
/// `try_emit` say `ShutDown`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_after_shutdown_says_shut_down() {
    let bus = Bus::builder()
        .sink("stuck", Stuck)
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let _ = bus.publish(Note(4));
    bus.shutdown().await;
    let emitted = bus.emit(Note(5)).await.unwrap_err().kind();
    let tried = bus.try_emit(Note(6)).unwrap_err().kind();
    assert_eq!(
        (emitted, tried),
        (
            eventbus::EmitErrorKind::ShutDown,
            eventbus::EmitErrorKind::ShutDown
        )
    );
}

/// A sink's worker whose runtime ends reports the records it held as
/// abandoned, and is marked ended: `flush` does not wait for it.
#[test]
fn a_sink_worker_whose_runtime_ended_reports_its_records_and_flush_does_not_wait() {
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .runtime(first.handle().clone())
        .sink("stuck", Stuck)
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    for n in [7, 8, 9] {
        assert!(bus.publish(Note(n)).is_ok());
    }
    assert!(dead.is_empty());
    first.shutdown_timeout(Duration::from_millis(100));

    let letters: Vec<(String, eventbus::FailureKind, Option<String>, String)> = dead
        .letters()
        .into_iter()
        .map(|letter| {
            (
                letter.record.unwrap().payload_str().unwrap().to_owned(),
                letter.kind,
                letter.sink,
                letter.message,
            )
        })
        .collect();
    let message = "sink `stuck` could not send the record: the runtime that ran the sink's \
                   worker ended before the sink sent the record";
    let expected: Vec<_> = ["7", "8", "9"]
        .into_iter()
        .map(|payload| {
            (
                payload.to_owned(),
                eventbus::FailureKind::Abandoned,
                Some("stuck".to_owned()),
                message.to_owned(),
            )
        })
        .collect();
    assert_eq!(letters, expected);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let flushed = tokio::time::timeout(Duration::from_secs(3), bus.flush()).await;
        assert!(flushed.is_ok(), "flush returns");
    });
}

/// A map with keys that are not strings: JSON cannot hold it.
#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "robustness.grid")]
struct Grid(std::collections::HashMap<(u8, u8), u8>);

#[subscribe]
fn on_grid(_: &Grid) {}

/// An emitted event whose record cannot be written is delivered, and the
/// sinks' failure to get it is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emitted_event_that_cannot_be_written_is_reported_once() {
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bus = Bus::builder()
        .sink("stuck", Stuck)
        .on_error({
            let failures = Arc::clone(&failures);
            move |failure| {
                failures
                    .lock()
                    .unwrap()
                    .push((failure.kind(), failure.message().to_owned()));
            }
        })
        .build()
        .unwrap();
    bus.emit(Grid(std::collections::HashMap::from([((1, 2), 3)])))
        .await
        .unwrap();
    bus.idle().await;
    assert_eq!(
        *failures.lock().unwrap(),
        [(
            eventbus::FailureKind::SinkFailed,
            "the event was neither sent nor stored: the event `robustness.grid` could not be \
             written as JSON: key must be a string"
                .to_owned()
        )]
    );
}
