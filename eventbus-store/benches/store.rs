//! The event log's speed, on SQLite (a temporary file) and PostgreSQL
//! (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`, in a
//! schema of its own; skipped with a message when it is not reachable):
//!
//! - `append` of 1 and of 100 records per call, beside a raw sqlx insert
//!   of the same rows into the same table, one transaction per call;
//! - `subscribe_all` catching up over 100,000 stored events.
//!
//! Run with `cargo bench -p eventbus-store`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventbus_core::{Envelope, EventRecord};
use eventbus_store::{ExpectedVersion, Store};
use sqlx::{Connection, QueryBuilder};

#[path = "db/mod.rs"]
mod db;
use db::{postgres, sqlite, Db};

const CATCH_UP: usize = 100_000;

fn record(n: usize) -> EventRecord {
    let payload = format!("{{\"n\":{n},\"item\":\"book\"}}");
    EventRecord::new("bench.event", 1, payload.into_bytes(), Envelope::generate())
}

/// The same rows the store writes, inserted by hand in one transaction:
/// what an append costs without the store's checks.
async fn raw_insert(
    connection: &mut RawConnection,
    stream: &str,
    records: &[EventRecord],
    postgres: bool,
) {
    let (uuid, json, time) = if postgres {
        ("::uuid", "::jsonb", "::timestamptz")
    } else {
        ("", "", "")
    };
    macro_rules! insert {
        ($db:ty, $connection:expr, $begin:expr) => {{
            let mut tx = $connection.begin_with($begin).await.unwrap();
            let mut query = QueryBuilder::<$db>::new(
                "INSERT INTO eventbus_events (stream, stream_version, event_id, name, version, \
                 payload, correlation_id, causation_id, origin, source, handled, recorded_at) ",
            );
            query.push_values(records.iter().enumerate(), |mut values, (at, record)| {
                values.push_bind(stream);
                values.push_bind(i64::try_from(at + 1).unwrap());
                values.push_bind(record.envelope.id.to_string());
                values.push_unseparated(uuid);
                values.push_bind(record.name.to_string());
                values.push_bind(i64::from(record.version));
                values.push_bind(String::from_utf8(record.payload.to_vec()).unwrap());
                values.push_unseparated(json);
                values.push_bind(record.envelope.correlation_id.to_string());
                values.push_unseparated(uuid);
                values.push_bind(None::<String>);
                values.push_unseparated(uuid);
                values.push_bind("local");
                values.push_bind(None::<String>);
                values.push_bind(false);
                values.push_bind("2026-12-06T10:00:00.000000Z");
                values.push_unseparated(time);
            });
            query.build().execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }};
    }
    match connection {
        RawConnection::Sqlite(connection) => insert!(sqlx::Sqlite, connection, "BEGIN IMMEDIATE"),
        RawConnection::Postgres(connection) => insert!(sqlx::Postgres, connection, "BEGIN"),
    }
}

enum RawConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Times `iterations` calls of `call`, each with `count` fresh records
/// made before the clock starts.
fn time_calls(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    count: usize,
    mut call: impl AsyncFnMut(&[EventRecord]),
) -> Duration {
    let calls: Vec<Vec<EventRecord>> = (0..iterations)
        .map(|_| (0..count).map(record).collect())
        .collect();
    runtime.block_on(async {
        let started = Instant::now();
        for records in &calls {
            call(records).await;
        }
        started.elapsed()
    })
}

fn bench_database(c: &mut Criterion, runtime: &tokio::runtime::Runtime, db: &Db) {
    let store = runtime
        .block_on(Store::open(&db.url))
        .expect("the bench database opens");
    let postgres = db.name == "postgres";
    let mut raw = runtime.block_on(async {
        if postgres {
            RawConnection::Postgres(sqlx::PgConnection::connect(&db.url).await.unwrap())
        } else {
            RawConnection::Sqlite(sqlx::SqliteConnection::connect(&db.url).await.unwrap())
        }
    });
    let mut group = c.benchmark_group(format!("store/{}/append", db.name));
    group.sample_size(20);
    let mut streams = 0_u64;
    for count in [1_usize, 100] {
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(BenchmarkId::new("eventbus append", count), |b| {
            b.iter_custom(|iterations| {
                time_calls(runtime, iterations, count, async |records| {
                    streams += 1;
                    let stream = format!("append-{streams}");
                    store
                        .append(&stream, ExpectedVersion::NoStream, records)
                        .await
                        .unwrap();
                })
            });
        });
        group.bench_function(BenchmarkId::new("raw sqlx insert", count), |b| {
            b.iter_custom(|iterations| {
                time_calls(runtime, iterations, count, async |records| {
                    streams += 1;
                    let stream = format!("raw-{streams}");
                    raw_insert(&mut raw, &stream, records, postgres).await;
                })
            });
        });
    }
    group.finish();

    // The catch-up: 100,000 events stored, a tail reads them all.
    let mut group = c.benchmark_group(format!("store/{}/subscribe_all", db.name));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let catch_up = runtime.block_on(async {
        let fresh = Store::open(&db.url).await.unwrap();
        let stored = fresh.read_all(0, usize::MAX).await.unwrap().len();
        let mut added = 0;
        while stored + added < CATCH_UP {
            let records: Vec<_> = (0..1000).map(record).collect();
            fresh
                .append("catch-up", ExpectedVersion::Any, &records)
                .await
                .unwrap();
            added += records.len();
        }
        fresh
    });
    group.throughput(Throughput::Elements(CATCH_UP as u64));
    group.bench_function("catch up over 100,000 events", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let mut tail = catch_up.subscribe_all(0);
                    for _ in 0..CATCH_UP {
                        tail.next().await.unwrap();
                    }
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the bench");
    let mut databases = vec![sqlite()];
    databases.extend(postgres(&runtime));
    for db in &databases {
        bench_database(c, &runtime, db);
    }
    for db in databases {
        (db.cleanup)();
    }
}

criterion_group!(benches, store);
criterion_main!(benches);
