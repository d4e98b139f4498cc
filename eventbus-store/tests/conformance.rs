//! One suite, run against both backends: SQLite in a temporary file, and
//! PostgreSQL at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of
//! its own, dropped at the end. Without PostgreSQL the PostgreSQL half
//! fails under `CI=true` and is skipped, saying why, otherwise.

mod support;

use std::time::{Duration, SystemTime};

use eventbus_core::{Envelope, EventRecord, Origin};
use eventbus_store::{ExpectedVersion, Store, StoreError};
use support::{json, positions, record, versions, TestDb, LATE_ROW};
use uuid::Uuid;

conformance! {
    async fn expected_versions(db: &TestDb) {
        let store = db.open().await;
        let first = store
            .append("order-1", ExpectedVersion::NoStream, &[record("order.placed", "{}")])
            .await
            .unwrap();
        assert_eq!(first, [1]);
        let again = store
            .append("order-1", ExpectedVersion::NoStream, &[record("order.placed", "{}")])
            .await;
        match again {
            Err(StoreError::WrongExpectedVersion { stream, expected, actual }) => {
                assert_eq!(stream, "order-1");
                assert_eq!(expected, ExpectedVersion::NoStream);
                assert_eq!(actual, 1);
            }
            other => panic!("expected WrongExpectedVersion, got {other:?}"),
        }
        let stale = store
            .append("order-1", ExpectedVersion::Exact(0), &[record("order.paid", "{}")])
            .await
            .unwrap_err();
        assert_eq!(
            stale.to_string(),
            "stream `order-1` is at version 1, but the append expected version 0: nothing was \
             written; read the stream again, decide again and append with the version read (or \
             `ExpectedVersion::Any` if order does not matter)"
        );
        store
            .append("order-1", ExpectedVersion::Exact(1), &[record("order.paid", "{}")])
            .await
            .unwrap();
        store
            .append("order-1", ExpectedVersion::Any, &[record("order.shipped", "{}"), record("order.delivered", "{}")])
            .await
            .unwrap();
        let stream = store.read_stream("order-1", 1).await.unwrap();
        assert_eq!(versions(&stream), [1, 2, 3, 4]);
        let names: Vec<_> = stream.iter().map(|event| event.record.name.to_string()).collect();
        assert_eq!(names, ["order.placed", "order.paid", "order.shipped", "order.delivered"]);
    }

    async fn eight_writers_race_for_each_version(db: &TestDb) {
        const WRITERS: usize = 8;
        const ROUNDS: u64 = 5;
        let store = db.open().await;
        for round in 0..ROUNDS {
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
            let racers: Vec<_> = (0..WRITERS)
                .map(|writer| {
                    let (store, start) = (store.clone(), std::sync::Arc::clone(&start));
                    tokio::spawn(async move {
                        start.wait().await;
                        let payload = format!("{{\"writer\":{writer}}}");
                        store
                            .append("race", ExpectedVersion::Exact(round), &[record("race.won", &payload)])
                            .await
                    })
                })
                .collect();
            let mut won = 0;
            for racer in racers {
                match racer.await.unwrap() {
                    Ok(positions) => {
                        assert_eq!(positions.len(), 1);
                        won += 1;
                    }
                    Err(StoreError::WrongExpectedVersion { actual, expected, .. }) => {
                        assert_eq!(expected, ExpectedVersion::Exact(round));
                        assert_eq!(actual, round + 1);
                    }
                    Err(other) => panic!("a racer failed: {other}"),
                }
            }
            assert_eq!(won, 1, "round {round}: exactly one writer wins");
        }
        let stream = store.read_stream("race", 0).await.unwrap();
        assert_eq!(versions(&stream), [1, 2, 3, 4, 5]);
    }

    async fn an_event_id_already_stored_is_not_appended_again(db: &TestDb) {
        let store = db.open().await;
        let (a, b) = (record("cart.added", "{\"sku\":1}"), record("cart.added", "{\"sku\":2}"));
        let first = store
            .append("cart-1", ExpectedVersion::NoStream, &[a.clone(), b.clone()])
            .await
            .unwrap();
        assert_eq!(first, [1, 2]);
        // A retry of the committed append: the same positions, no rows,
        // and the (now stale) expected version is not held against it.
        let retried = store
            .append("cart-1", ExpectedVersion::NoStream, &[a.clone(), b.clone()])
            .await
            .unwrap();
        assert_eq!(retried, [1, 2]);
        // One known, one new: the new one is written after the stream's end.
        let c = record("cart.added", "{\"sku\":3}");
        let mixed = store
            .append("cart-1", ExpectedVersion::Exact(2), &[b.clone(), c.clone(), c.clone()])
            .await
            .unwrap();
        assert_eq!(mixed, [2, 3, 3]);
        // One known, one new, no repeats: the same.
        let d = record("cart.added", "{\"sku\":4}");
        let known_first = store
            .append("cart-1", ExpectedVersion::Exact(3), &[c.clone(), d.clone()])
            .await
            .unwrap();
        assert_eq!(known_first, [3, 4]);
        let all = store.read_all(0, 100).await.unwrap();
        assert_eq!(positions(&all), [1, 2, 3, 4]);
        assert_eq!(versions(&all), [1, 2, 3, 4]);
        let ids: Vec<_> = all.iter().map(|event| event.record.envelope.id).collect();
        assert_eq!(ids, [a.envelope.id, b.envelope.id, c.envelope.id, d.envelope.id]);
    }

    async fn reads_by_stream_and_by_position(db: &TestDb) {
        let store = db.open().await;
        for n in 1..=3 {
            let payload = format!("{{\"n\":{n}}}");
            store.append("left", ExpectedVersion::Any, &[record("side.left", &payload)]).await.unwrap();
            store.append("right", ExpectedVersion::Any, &[record("side.right", &payload)]).await.unwrap();
        }
        let left = store.read_stream("left", 2).await.unwrap();
        assert_eq!(versions(&left), [2, 3]);
        assert_eq!(positions(&left), [3, 5]);
        assert_eq!(json(&left[0].record.payload), serde_json::json!({"n": 2}));
        assert!(store.read_stream("nowhere", 1).await.unwrap().is_empty());
        assert!(store.read_stream("left", 4).await.unwrap().is_empty());
        let page = store.read_all(2, 3).await.unwrap();
        assert_eq!(positions(&page), [3, 4, 5]);
        let streams: Vec<_> = page.iter().map(|event| event.stream.as_str()).collect();
        assert_eq!(streams, ["left", "right", "left"]);
        assert_eq!(positions(&store.read_all(5, 10).await.unwrap()), [6]);
        assert!(store.read_all(6, 10).await.unwrap().is_empty());
        assert!(store.read_all(0, 0).await.unwrap().is_empty());
    }

    async fn a_record_reads_back_as_it_was_appended(db: &TestDb) {
        let store = db.open().await;
        let cause = Uuid::now_v7();
        let correlation = Uuid::now_v7();
        // A time with nanoseconds: the log keeps microseconds.
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_780_000_000, 123_456_789);
        let envelope = Envelope::generate()
            .with_timestamp(at)
            .with_correlation_id(correlation)
            .with_causation_id(Some(cause))
            .with_origin(Origin::Remote)
            .with_source("rabbitmq");
        let sent = EventRecord::new(
            "invoice.sent",
            3,
            br#"{"number": "A-1", "lines": [1, 2], "note": null}"#.to_vec(),
            envelope,
        );
        let positions = store.append("invoice-A-1", ExpectedVersion::NoStream, std::slice::from_ref(&sent)).await.unwrap();
        let read = store.read_all(0, 1).await.unwrap().remove(0);
        assert_eq!(read.position, positions[0]);
        assert_eq!(read.stream, "invoice-A-1");
        assert_eq!(read.stream_version, 1);
        assert!(!read.handled);
        assert_eq!(read.record.name, "invoice.sent");
        assert_eq!(read.record.version, 3);
        assert_eq!(json(&read.record.payload), json(&sent.payload));
        let envelope = &read.record.envelope;
        assert_eq!(envelope.id, sent.envelope.id);
        assert_eq!(envelope.correlation_id, correlation);
        assert_eq!(envelope.causation_id, Some(cause));
        assert_eq!(envelope.origin, Origin::Remote);
        assert_eq!(envelope.source.as_deref(), Some("rabbitmq"));
        assert_eq!(envelope.sequence, read.position);
        let micros = SystemTime::UNIX_EPOCH + Duration::new(1_780_000_000, 123_456_000);
        assert_eq!(envelope.timestamp, micros);
        assert_eq!(read.recorded_at, micros);
    }

    async fn a_record_that_is_not_json_is_refused_and_nothing_is_written(db: &TestDb) {
        let store = db.open().await;
        let good = record("note.taken", "{}");
        let bad = record("note.taken", "{not json");
        let refused = store
            .append("notes", ExpectedVersion::Any, &[good, bad.clone()])
            .await
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "event {} (`note.taken`) cannot be stored: its payload is not JSON: key must be \
                 a string at line 1 column 2",
                bad.envelope.id
            )
        );
        assert!(store.read_all(0, 10).await.unwrap().is_empty());
    }

    async fn reopening_keeps_the_log_and_its_schema_version(db: &TestDb) {
        let store = db.open().await;
        store.append("kept", ExpectedVersion::NoStream, &[record("kept.once", "{}")]).await.unwrap();
        drop(store);
        let reopened = db.open().await;
        assert_eq!(positions(&reopened.read_all(0, 10).await.unwrap()), [1]);
        reopened.append("kept", ExpectedVersion::Exact(1), &[record("kept.twice", "{}")]).await.unwrap();
        assert_eq!(versions(&reopened.read_stream("kept", 1).await.unwrap()), [1, 2]);
    }

    async fn a_schema_written_by_a_newer_eventbus_is_not_opened(db: &TestDb) {
        drop(db.open().await);
        db.execute("INSERT INTO eventbus_schema_version (version, applied_at) VALUES (99, 'later')").await;
        let refused = Store::open(&db.url()).await.unwrap_err();
        // PostgreSQL has a second step: the trigger that wakes tails.
        let known = if db.is_postgres() { 2 } else { 1 };
        assert_eq!(
            refused.to_string(),
            format!(
                "the event log's schema is at version 99, but this eventbus knows versions up to \
                 {known}: a newer eventbus wrote it; upgrade eventbus to open this database"
            )
        );
    }

    async fn a_tail_yields_the_log_then_each_append_once(db: &TestDb) {
        let store = db.open().await;
        for n in 1..=3 {
            store.append("tail", ExpectedVersion::Any, &[record("tail.seen", &format!("{{\"n\":{n}}}"))]).await.unwrap();
        }
        let mut tail = store.subscribe_all(0);
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(tail.next().await.unwrap().position);
        }
        assert_eq!(seen, [1, 2, 3]);
        let writer = store.clone();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.append("tail", ExpectedVersion::Exact(3), &[record("tail.seen", "{}"), record("tail.seen", "{}")]).await.unwrap();
        });
        for _ in 0..2 {
            seen.push(tail.next().await.unwrap().position);
        }
        later.await.unwrap();
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        assert_eq!(tail.position(), 5);
        // Resumed where another left off.
        let mut resumed = store.subscribe_all(3);
        assert_eq!(resumed.next().await.unwrap().position, 4);
        assert_eq!(resumed.next().await.unwrap().position, 5);
        let nothing = tokio::time::timeout(Duration::from_millis(150), resumed.next()).await;
        assert!(nothing.is_err(), "nothing more was appended");
    }

    async fn a_tail_wakes_for_appends_by_another_process(db: &TestDb) {
        let reader = db.open().await;
        // Another pool, as another process has: no wake-up in memory.
        let writer = db.open().await;
        // On PostgreSQL the append's NOTIFY wakes the tail long before it
        // would poll; SQLite has no such signal: it polls.
        let poll = match db {
            TestDb::Postgres { .. } => Duration::from_secs(60),
            TestDb::Sqlite { .. } => Duration::from_millis(20),
        };
        let mut tail = reader.subscribe_all(0).poll_every(poll);
        let appending = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            writer.append("elsewhere", ExpectedVersion::Any, &[record("far.away", "{}")]).await.unwrap();
        });
        let woke = tokio::time::timeout(Duration::from_secs(10), tail.next()).await;
        appending.await.unwrap();
        let event = woke.expect("the tail wakes within 10 s").unwrap();
        assert_eq!((event.position, event.stream.as_str()), (1, "elsewhere"));
        // A row inserted by a program that knows only the table (on
        // PostgreSQL the table's trigger sends the NOTIFY).
        let inserting = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            db.execute(LATE_ROW).await;
        };
        let (woke, ()) = tokio::join!(tokio::time::timeout(Duration::from_secs(10), tail.next()), inserting);
        let event = woke.expect("the tail wakes within 10 s").unwrap();
        assert_eq!((event.position, event.stream.as_str()), (2, "late"));
    }

    async fn a_late_commit_is_neither_skipped_nor_repeated(db: &TestDb) {
        const WRITERS: usize = 8;
        let store = db.open().await;
        let mut tail = store.subscribe_all(0).poll_every(Duration::from_millis(10));
        // Another program's append holds the write lock, uncommitted.
        let held = db.hold_append().await;
        let appends: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.append(&format!("writer-{writer}"), ExpectedVersion::NoStream, &[record("late.after", "{}")]).await
                })
            })
            .collect();
        // The tail reads while the held append is open: it must not move
        // past the position that append will commit.
        let early = tokio::time::timeout(Duration::from_millis(300), tail.next()).await;
        assert!(early.is_err(), "nothing is committed while the lock is held: {early:?}");
        held.commit().await;
        for append in appends {
            append.await.unwrap().unwrap();
        }
        let mut events = Vec::new();
        for _ in 0..=WRITERS {
            events.push(tail.next().await.unwrap());
        }
        let positions = positions(&events);
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{positions:?}");
        assert_eq!(events[0].stream, "late");
        let mut streams: Vec<_> = events[1..].iter().map(|event| event.stream.clone()).collect();
        streams.sort();
        let expected: Vec<_> = (0..WRITERS).map(|writer| format!("writer-{writer}")).collect();
        assert_eq!(streams, expected);
        let nothing = tokio::time::timeout(Duration::from_millis(100), tail.next()).await;
        assert!(nothing.is_err(), "no event is yielded twice");
    }

    async fn the_tables_are_as_pinned(db: &TestDb) {
        drop(db.open().await);
        let columns = match db {
            TestDb::Sqlite { .. } => {
                use sqlx::Connection;
                let mut connection = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
                let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info('eventbus_events') ORDER BY cid")
                    .fetch_all(&mut connection)
                    .await
                    .unwrap();
                rows.into_iter().map(|(name,)| name).collect::<Vec<_>>()
            }
            TestDb::Postgres { schema, .. } => {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(&db.url()).await.unwrap();
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = 'eventbus_events' ORDER BY ordinal_position",
                )
                .bind(schema.as_str())
                .fetch_all(&mut connection)
                .await
                .unwrap();
                rows.into_iter().map(|(name,)| name).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            columns,
            [
                "position", "stream", "stream_version", "event_id", "name", "version", "payload",
                "correlation_id", "causation_id", "origin", "source", "handled", "recorded_at",
            ]
        );
    }
}

/// SQLite stores ids and times as text: a row another program wrote
/// wrong is reported with its position and stream, not skipped.
#[tokio::test]
async fn a_row_that_is_not_a_record_is_reported_with_its_position() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    store
        .append("ok", ExpectedVersion::Any, &[record("fine.event", "{}")])
        .await
        .unwrap();
    db.execute(
        "INSERT INTO eventbus_events (stream, stream_version, event_id, name, version, payload, \
         correlation_id, causation_id, origin, source, handled, recorded_at) VALUES \
         ('broken', 1, 'not-a-uuid', 'x.y', 1, '{}', '0190a000-0000-7000-8000-000000000000', \
         NULL, 'local', NULL, 0, '2026-12-06T10:00:00.000000Z')",
    )
    .await;
    let refused = store.read_all(0, 10).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the row at position 2 in stream `broken` cannot be read: `event_id` \"not-a-uuid\" is \
         not a UUID: invalid character: found `n` at 0; it was written by another program or \
         edited by hand"
    );
    assert_eq!(positions(&store.read_all(0, 1).await.unwrap()), [1]);
}

/// SQLite: another process holds the write lock past the 5 s busy
/// timeout. (PostgreSQL appends wait for the advisory lock as long as it
/// is held: the late-commit test above.)
#[tokio::test]
async fn a_database_locked_past_the_busy_timeout_is_a_clear_error() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let held = db.hold_append().await;
    let started = std::time::Instant::now();
    let refused = store
        .append(
            "waits",
            ExpectedVersion::NoStream,
            &[record("lock.waited", "{}")],
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "it waited the busy timeout first"
    );
    assert!(matches!(refused, StoreError::Locked { .. }), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        "could not append to stream `waits`: the database stayed locked by another writer for \
         5 s (the busy timeout); nothing was written: retry, and look for a process that holds \
         a write transaction open"
    );
    held.commit().await;
    // Nothing was written, and the store works once the lock is released.
    let positions = store
        .append(
            "waits",
            ExpectedVersion::NoStream,
            &[record("lock.waited", "{}")],
        )
        .await
        .unwrap();
    assert_eq!(positions, [2]);
    let all = store.read_all(0, 10).await.unwrap();
    let streams: Vec<_> = all.iter().map(|event| event.stream.as_str()).collect();
    assert_eq!(streams, ["late", "waits"]);
}

#[tokio::test]
async fn a_url_of_another_kind_is_refused_with_the_ones_that_work() {
    let refused = Store::open("mysql://root:secret@127.0.0.1/test")
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "`mysql://root:***@127.0.0.1/test` is not a store URL: use `sqlite://path/to/file.db` \
         (created if missing), `sqlite::memory:` or `postgres://user@host:5432/database`"
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_a_clear_error() {
    let down = Store::open("postgres://postgres:secret@127.0.0.1:1/test")
        .await
        .unwrap_err();
    let message = down.to_string();
    assert!(
        message.starts_with("could not connect to `postgres://postgres:***@127.0.0.1:1/test`: "),
        "{message}"
    );
    let missing = std::env::temp_dir()
        .join("eventbus-no-such-dir")
        .join("log.db");
    let refused = Store::open(&format!("sqlite://{}", missing.display()))
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        message.starts_with(&format!(
            "could not open `sqlite://{}`: ",
            missing.display()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_store_in_memory_starts_empty_and_is_its_own() {
    let one = Store::memory().await.unwrap();
    let two = Store::memory().await.unwrap();
    one.append("m", ExpectedVersion::NoStream, &[record("m.one", "{}")])
        .await
        .unwrap();
    assert_eq!(positions(&one.read_all(0, 10).await.unwrap()), [1]);
    assert!(two.read_all(0, 10).await.unwrap().is_empty());
    // By URL too: one database for all its connections.
    let three = Store::open("sqlite::memory:").await.unwrap();
    for n in 0..3 {
        three
            .append("m", ExpectedVersion::Exact(n), &[record("m.three", "{}")])
            .await
            .unwrap();
    }
    assert_eq!(
        versions(&three.read_stream("m", 1).await.unwrap()),
        [1, 2, 3]
    );
}
