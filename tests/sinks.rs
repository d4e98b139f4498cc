//! Sinks: every accepted non-local event becomes one record for each sink
//! that wants it; retries, dead letters, a full buffer, no echo to the
//! transport a record came through, nothing read back from the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventbus::layer::BoxFuture;
use eventbus::prelude::*;
use eventbus::{
    Envelope, EventRecord, FailureKind, MemoryDeadLetters, Origin, SendOutcome, Sink, SinkRetry,
    SinkStats, Uuid,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "sinks.tick")]
struct Tick(u32);

// Runs on replays too: a replayed tick is handled, and still reaches no
// sink.
#[subscribe(replay)]
fn on_tick(_: &Tick) {}

/// Each sink's name, sent, failed and waiting counts.
fn counts(bus: &Bus) -> Vec<(String, u64, u64, u64)> {
    bus.sinks()
        .into_iter()
        .map(|stats: SinkStats| (stats.name, stats.sent, stats.failed, stats.waiting))
        .collect()
}

/// Retries within milliseconds, so the tests take no time.
fn quick(attempts: u32) -> SinkRetry {
    SinkRetry::new(attempts, Duration::from_millis(1), Duration::from_millis(4))
}

/// Fails the first `failures` sends of each record, then sends it; keeps
/// how often each record was sent.
struct Flaky {
    failures: u32,
    tries: Mutex<HashMap<Uuid, u32>>,
    sent: Mutex<HashMap<Uuid, u32>>,
}

impl Flaky {
    fn new(failures: u32) -> Arc<Self> {
        Arc::new(Self {
            failures,
            tries: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
        })
    }
}

/// A sink shared with the test that reads what it did.
struct Shared<S>(Arc<S>);

impl Sink for Shared<Flaky> {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            let mut tries = self.0.tries.lock().unwrap();
            let mut sent = self.0.sent.lock().unwrap();
            records
                .iter()
                .map(|record| {
                    let count = tries.entry(record.envelope.id).or_default();
                    *count += 1;
                    if *count <= self.0.failures {
                        SendOutcome::Retry(format!("try {count} failed").into())
                    } else {
                        *sent.entry(record.envelope.id).or_default() += 1;
                        SendOutcome::Sent
                    }
                })
                .collect()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_emitted_events_are_each_sent_exactly_once_after_three_failed_tries() {
    let flaky = Flaky::new(3);
    let bus = Bus::builder()
        .sink("flaky", Shared(Arc::clone(&flaky)))
        .sink_retry(quick(5))
        .build()
        .unwrap();
    for n in 0..10_000 {
        bus.emit(Tick(n)).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), bus.flush())
        .await
        .expect("flush returns once every record is sent");

    let sent = flaky.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 10_000);
    assert!(sent.values().all(|&times| times == 1));
    let tries = flaky.tries.lock().unwrap().clone();
    assert!(tries.values().all(|&tries| tries == 4));
    assert_eq!(counts(&bus), [("flaky".to_owned(), 10_000, 0, 0)]);
    bus.shutdown().await;
}

/// Refuses everything, asking for another try each time.
struct Down;

impl Sink for Down {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            records
                .iter()
                .map(|_| SendOutcome::Retry("connection refused".into()))
                .collect()
        })
    }
}

#[tokio::test]
async fn a_sink_that_always_fails_leaves_every_record_in_the_dead_letters() {
    let dead = MemoryDeadLetters::new();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let bus = Bus::builder()
        .sink("down", Down)
        .sink_retry(quick(3))
        .dead_letters(dead.clone())
        .on_error({
            let failures = Arc::clone(&failures);
            move |failure| failures.lock().unwrap().push(failure.kind())
        })
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..50 {
        let report = bus.publish(Tick(n));
        assert!(report.is_ok());
        ids.push(report.event_id());
    }
    tokio::time::timeout(Duration::from_secs(10), bus.flush())
        .await
        .expect("flush returns once every record has failed");

    let letters = dead.letters();
    assert_eq!(letters.len(), 50);
    for (letter, id) in letters.iter().zip(&ids) {
        assert_eq!(letter.kind, FailureKind::SinkFailed);
        assert_eq!(letter.sink.as_deref(), Some("down"));
        assert_eq!(letter.attempts, 3);
        assert_eq!(letter.event_id, *id);
        assert_eq!(
            letter.message,
            "sink `down` could not send the record: connection refused"
        );
        let record = letter.record.as_ref().expect("the record is kept");
        assert_eq!(record.envelope.id, *id);
        assert_eq!(record.envelope.origin, Origin::Local);
        assert!(letter.handler.is_none());
    }
    let payloads: Vec<String> = letters
        .iter()
        .map(|letter| {
            letter
                .record
                .as_ref()
                .unwrap()
                .payload_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(payloads[..3], ["0", "1", "2"]);
    assert_eq!(*failures.lock().unwrap(), vec![FailureKind::SinkFailed; 50]);
    assert_eq!(counts(&bus), [("down".to_owned(), 0, 50, 0)]);
    tokio::time::timeout(Duration::from_secs(10), bus.shutdown())
        .await
        .expect("shutdown returns");
}

/// Sends once a permit is given; says when a send has begun.
struct Gate {
    open: Semaphore,
    started: Semaphore,
    sent: Mutex<Vec<u32>>,
}

impl Sink for Shared<Gate> {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            self.0.started.add_permits(1);
            let mut outcomes = Vec::new();
            for record in records {
                self.0.open.acquire().await.unwrap().forget();
                let tick: Tick = record.decode().unwrap();
                self.0.sent.lock().unwrap().push(tick.0);
                outcomes.push(SendOutcome::Sent);
            }
            outcomes
        })
    }
}

fn gate() -> Arc<Gate> {
    Arc::new(Gate {
        open: Semaphore::new(0),
        started: Semaphore::new(0),
        sent: Mutex::new(Vec::new()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_a_sink_full_failure_in_the_publish_report() {
    let gate = gate();
    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .sink("slow", Shared(Arc::clone(&gate)))
        .sink_buffer(2)
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    // The worker takes the first record and waits in `send`.
    assert!(bus.publish(Tick(1)).is_ok());
    gate.started.acquire().await.unwrap().forget();
    // Two more fill the buffer; the fourth finds it full.
    assert!(bus.publish(Tick(2)).is_ok());
    assert!(bus.publish(Tick(3)).is_ok());
    let report = bus.publish(Tick(4));
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::SinkFull);
    assert_eq!(failure.sink(), Some("slow"));
    assert_eq!(
        failure.message(),
        "the buffer of sink `slow` is full: the record was not handed to it; it is in the dead \
         letters"
    );
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead.letters()[0].record.as_ref().unwrap().payload_str(),
        Some("4")
    );

    gate.open.add_permits(3);
    bus.flush().await;
    assert_eq!(*gate.sent.lock().unwrap(), [1, 2, 3]);
    assert_eq!(counts(&bus), [("slow".to_owned(), 3, 1, 0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_waits_for_room_in_a_full_buffer_and_try_emit_hands_the_event_back() {
    let gate = gate();
    let bus = Bus::builder()
        .sink("slow", Shared(Arc::clone(&gate)))
        .sink_buffer(1)
        .build()
        .unwrap();
    bus.emit(Tick(1)).await.unwrap();
    gate.started.acquire().await.unwrap().forget();
    bus.emit(Tick(2)).await.unwrap();
    let refused = bus.try_emit(Tick(3)).unwrap_err();
    assert_eq!(refused.kind(), eventbus::EmitErrorKind::Full);
    assert_eq!(refused.into_inner().0, 3);

    let waiting = tokio::spawn({
        let bus = bus.clone();
        async move { bus.emit(Tick(4)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !waiting.is_finished(),
        "emit waits for room in the sink's buffer"
    );
    gate.open.add_permits(3);
    waiting.await.unwrap().unwrap();
    bus.flush().await;
    assert_eq!(*gate.sent.lock().unwrap(), [1, 2, 4]);
}

/// Keeps the ids of the records it is handed.
#[derive(Default)]
struct Keeps(Mutex<Vec<(Uuid, Option<String>)>>);

impl Sink for Shared<Keeps> {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            let mut kept = self.0 .0.lock().unwrap();
            records
                .iter()
                .map(|record| {
                    kept.push((
                        record.envelope.id,
                        record.envelope.source.as_deref().map(str::to_owned),
                    ));
                    SendOutcome::Sent
                })
                .collect()
        })
    }
}

#[tokio::test]
async fn no_sink_is_handed_back_what_it_brought_in_nor_what_the_log_replays() {
    let webhooks = Arc::new(Keeps::default());
    let archive = Arc::new(Keeps::default());
    let bus = Bus::builder()
        .sink("webhooks", Shared(Arc::clone(&webhooks)))
        .sink("archive", Shared(Arc::clone(&archive)))
        .build()
        .unwrap();

    let local = bus.publish(Tick(1)).event_id();
    let inbound = Envelope::generate().with_source("webhooks");
    let from_webhooks = inbound.id;
    let record = EventRecord::from_event(&Tick(2), inbound).unwrap();
    assert_eq!(bus.deliver(record).unwrap().handled(), 1);
    let replayed =
        EventRecord::from_event(&Tick(3), Envelope::generate().with_origin(Origin::Replay))
            .unwrap();
    assert_eq!(bus.deliver(replayed).unwrap().handled(), 1);
    bus.flush().await;

    assert_eq!(*webhooks.0.lock().unwrap(), [(local, None)]);
    assert_eq!(
        *archive.0.lock().unwrap(),
        [(local, None), (from_webhooks, Some("webhooks".to_owned()))]
    );
}

#[test]
fn a_bus_with_sinks_needs_a_runtime_and_names_each_sink_once() {
    let error = Bus::builder().sink("down", Down).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "`BusBuilder::sink`: it works from tasks of its own: build the bus inside a tokio \
         runtime, or give it one with `BusBuilder::runtime`"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let error = Bus::builder()
        .runtime(runtime.handle().clone())
        .sink("down", Down)
        .sink("down", Down)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`BusBuilder::sink`: two sinks have the same name; give each its own"
    );
}

#[tokio::test]
async fn shutdown_gives_the_sinks_their_time_then_abandons_what_is_left_to_the_dead_letters() {
    let dead = MemoryDeadLetters::new();
    let bus = Bus::builder()
        .sink("down", Down)
        // Tries that would take minutes.
        .sink_retry(SinkRetry::new(
            10,
            Duration::from_secs(10),
            Duration::from_secs(60),
        ))
        .shutdown_timeout(Duration::from_millis(50))
        .dead_letters(dead.clone())
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(bus.publish(Tick(n)).event_id());
    }
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), bus.shutdown())
        .await
        .expect("shutdown returns once its time for the sinks is up");
    assert!(started.elapsed() < Duration::from_secs(5));

    let letters = dead.letters();
    assert_eq!(letters.len(), 20);
    let mut abandoned: Vec<Uuid> = letters
        .iter()
        .map(|letter| {
            assert_eq!(letter.kind, FailureKind::Abandoned);
            assert_eq!(letter.sink.as_deref(), Some("down"));
            assert_eq!(
                letter.message,
                "sink `down` could not send the record: the bus shut down before the sink sent \
                 the record (its `shutdown_timeout` ran out)"
            );
            letter.record.as_ref().unwrap().envelope.id
        })
        .collect();
    abandoned.sort();
    ids.sort();
    assert_eq!(abandoned, ids);
    assert_eq!(counts(&bus), [("down".to_owned(), 0, 20, 0)]);
    // Nothing is taken after shutdown.
    assert_eq!(
        bus.publish(Tick(99)).failures()[0].kind(),
        FailureKind::ShutDown
    );
}

/// Records the size of every batch it is handed.
struct Batches {
    most: usize,
    sizes: Mutex<Vec<usize>>,
}

impl Sink for Shared<Batches> {
    fn max_batch(&self) -> usize {
        self.0.most
    }

    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        self.0.sizes.lock().unwrap().push(records.len());
        Box::pin(async move { records.iter().map(|_| SendOutcome::Sent).collect() })
    }
}

#[tokio::test]
async fn a_sink_is_handed_at_most_its_batch_at_once() {
    for (most, expected) in [
        (3, vec![3, 3, 3, 1]),
        (eventbus::DEFAULT_SINK_BATCH, vec![10]),
    ] {
        let batches = Arc::new(Batches {
            most,
            sizes: Mutex::new(Vec::new()),
        });
        let bus = Bus::builder()
            .sink("batches", Shared(Arc::clone(&batches)))
            .build()
            .unwrap();
        // All ten wait in the buffer before the worker first looks (the
        // test's runtime runs one task at a time).
        for n in 0..10 {
            assert!(bus.publish(Tick(n)).is_ok());
        }
        bus.flush().await;
        assert_eq!(*batches.sizes.lock().unwrap(), expected);
        bus.shutdown().await;
    }
}
