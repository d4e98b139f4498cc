//! The durable bus (`Bus::builder().journal(store)`), on SQLite (a
//! temporary file) and PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, a schema of its own; skipped
//! with a message when it is not reachable):
//!
//! - `emit(e).await` (back once committed) from 1 and from 64 producers,
//!   beside `store.append` of one record per call from 1 producer: the
//!   same commit without the bus;
//! - the handler relay's latency: from `emit` returning (committed) to the
//!   handler running.
//!
//! Events per transaction are printed after each producer case. Run with
//! `cargo bench --bench durable --features store`.

// `criterion_group!` writes an undocumented public function; the counts
// turned into ratios stay far below 2^52.
#![allow(missing_docs, clippy::cast_precision_loss)]

#[path = "../eventbus-store/benches/db/mod.rs"]
mod db;
mod support;

#[path = "../tests/common/counting.rs"]
mod counting;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use counting::Counting;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventbus::prelude::*;
use eventbus::store::{ExpectedVersion, Store};
use eventbus::{Envelope, EventRecord};
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "bench.durable_shipped")]
struct Shipped {
    parcel: u64,
}

/// Wakes the latency bench when the handler runs.
static HANDLED: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[subscribe]
fn on_shipped(_: &Shipped) {
    HANDLED.notify_waiters();
}

fn bench_database(c: &mut Criterion, runtime: &tokio::runtime::Runtime, db: &db::Db) {
    let store = runtime
        .block_on(Store::open(&db.url))
        .expect("the bench database opens");
    let journal = Counting::new(store.clone());
    let bus = runtime.block_on(async {
        Bus::builder()
            .journal(journal.clone())
            .build()
            .expect("a durable bus")
    });
    let mut group = c.benchmark_group(format!("durable/{}/emit", db.name));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    // The same commit without the bus (the bus's relay still delivers
    // what it appends, as it does the emitted events).
    group.bench_function("store.append, 1 record per call", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let records: Vec<EventRecord> = (0..iterations)
                    .map(|parcel| {
                        EventRecord::from_event(&Shipped { parcel }, Envelope::generate()).unwrap()
                    })
                    .collect();
                let started = Instant::now();
                for record in records {
                    store
                        .append("bench.durable_shipped", ExpectedVersion::Any, &[record])
                        .await
                        .unwrap();
                }
                started.elapsed()
            })
        });
    });
    runtime.block_on(caught_up(&store));
    for producers in [1_u64, 64] {
        let before = (
            journal.appends.load(Ordering::Relaxed),
            journal.events.load(Ordering::Relaxed),
        );
        group.bench_function(BenchmarkId::new("emit().await", producers), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let each = iterations.div_ceil(producers);
                    let started = Instant::now();
                    let running: Vec<_> = (0..producers)
                        .map(|producer| {
                            let bus = bus.clone();
                            tokio::spawn(async move {
                                for n in 0..each {
                                    bus.emit(Shipped {
                                        parcel: producer << 32 | n,
                                    })
                                    .await
                                    .unwrap();
                                }
                            })
                        })
                        .collect();
                    for producer in running {
                        producer.await.unwrap();
                    }
                    // The time per event: `each * producers` were emitted.
                    started
                        .elapsed()
                        .mul_f64(iterations as f64 / (each * producers) as f64)
                })
            });
        });
        runtime.block_on(caught_up(&store));
        let appends = journal.appends.load(Ordering::Relaxed) - before.0;
        let events = journal.events.load(Ordering::Relaxed) - before.1;
        eprintln!(
            "durable/{}/emit, {producers} producer(s): {events} events in {appends} transactions, \
             {:.1} events per transaction",
            db.name,
            events as f64 / appends.max(1) as f64
        );
    }
    group.finish();
    bench_relay(c, runtime, &bus, db.name);
    runtime.block_on(bus.shutdown());
}

/// Waits until the handler relay has handed the whole log to the
/// handlers, so one case's backlog does not weigh on the next.
async fn caught_up(store: &Store) {
    let end = store
        .read_all(0, usize::MAX)
        .await
        .unwrap()
        .last()
        .map_or(0, |last| last.position);
    while eventbus::Journal::checkpoint(store, "handlers")
        .await
        .unwrap()
        < end
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The relay's latency: from `emit` returning to the handler running.
fn bench_relay(c: &mut Criterion, runtime: &tokio::runtime::Runtime, bus: &Bus, name: &str) {
    let mut group = c.benchmark_group(format!("durable/{name}/relay"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("commit to handler", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                // The relay is idle at the end of the log first.
                bus.idle().await;
                let mut waited = Duration::ZERO;
                for parcel in 0..iterations {
                    let handled = HANDLED.notified();
                    tokio::pin!(handled);
                    handled.as_mut().enable();
                    bus.emit(Shipped { parcel }).await.unwrap();
                    let committed = Instant::now();
                    handled.await;
                    waited += committed.elapsed();
                }
                waited
            })
        });
    });
    group.finish();
}

fn durable(c: &mut Criterion) {
    let runtime = support::runtime();
    let mut databases = vec![db::sqlite()];
    databases.extend(db::postgres(&runtime));
    for db in &databases {
        bench_database(c, &runtime, db);
    }
    for db in databases {
        (db.cleanup)();
    }
}

criterion_group!(benches, durable);
criterion_main!(benches);
