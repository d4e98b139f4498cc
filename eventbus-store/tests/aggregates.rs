//! Aggregates on both backends: rebuilt from their stream, saved at the
//! version they were loaded at, snapshots, upcast v1 rows, and events
//! that no longer decode.

mod support;

use eventbus::prelude::*;
use eventbus::store::{Aggregate, ExpectedVersion, Store, StoreError};
use eventbus::{upcast, Envelope, EventRecord};
use serde_json::{json, Value};
use support::TestDb;

/// Version 1 of `Deposited` had no currency.
#[derive(Event, Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[event(name = "test.account", version = 2)]
enum AccountEvent {
    Opened { owner: String },
    Deposited { cents: u64, currency: String },
}

#[upcast(event = AccountEvent, from = 1)]
fn account_event_v1(mut old: Value) -> Value {
    if let Some(deposited) = old.get_mut("Deposited") {
        deposited["currency"] = json!("EUR");
    }
    old
}

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Account {
    owner: String,
    cents: u64,
    currencies: Vec<String>,
}

impl Aggregate for Account {
    const NAME: &'static str = "test_account";
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner.clone_from(owner),
            AccountEvent::Deposited { cents, currency } => {
                self.cents += cents;
                self.currencies.push(currency.clone());
            }
        }
    }
}

/// The same account, snapshotted every 2 events.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Snapshotted(Account);

impl Aggregate for Snapshotted {
    const NAME: &'static str = "test_snapshotted";
    const SNAPSHOT_EVERY: Option<u64> = Some(2);
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        self.0.apply(event);
    }
}

fn deposit(cents: u64) -> AccountEvent {
    AccountEvent::Deposited {
        cents,
        currency: "USD".to_owned(),
    }
}

/// The snapshot row of `stream`, as another program reads it.
async fn snapshot_row(db: &TestDb, stream: &str) -> Option<(i64, Value)> {
    use sqlx::Connection;
    let sql = "SELECT stream_version, CAST(state AS TEXT) FROM eventbus_snapshots WHERE stream = ";
    let row: Option<(i64, String)> = match db {
        TestDb::Sqlite { .. } => {
            let mut connection = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
            sqlx::query_as(&format!("{sql}?"))
                .bind(stream)
                .fetch_optional(&mut connection)
                .await
                .unwrap()
        }
        TestDb::Postgres { .. } => {
            let mut connection = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query_as(&format!("{sql}$1"))
                .bind(stream)
                .fetch_optional(&mut connection)
                .await
                .unwrap()
        }
    };
    row.map(|(version, state)| (version, serde_json::from_str(&state).unwrap()))
}

conformance! {
    async fn an_aggregate_is_rebuilt_from_its_stream(db: &TestDb) {
        let store = db.open().await;
        let mut account = store.load::<Account>("a1").await.unwrap();
        assert_eq!((account.version(), account.state()), (0, &Account::default()));
        assert_eq!(account.stream(), "test_account-a1");
        let opened = AccountEvent::Opened { owner: "Ada".to_owned() };
        let positions = store.save(&mut account, vec![opened, deposit(500)]).await.unwrap();
        assert_eq!(positions, [1, 2]);
        store.save(&mut account, vec![deposit(250)]).await.unwrap();
        assert_eq!((account.version(), account.cents), (3, 750));
        let loaded = store.load::<Account>("a1").await.unwrap();
        assert_eq!(loaded.version(), 3);
        assert_eq!(
            loaded.state(),
            &Account { owner: "Ada".to_owned(), cents: 750, currencies: vec!["USD".to_owned(), "USD".to_owned()] }
        );
        let stream = store.read_stream("test_account-a1", 1).await.unwrap();
        assert_eq!(stream[1].record.name, "test.account");
        assert_eq!(stream[1].record.version, 2);
        assert_eq!(
            support::json(&stream[1].record.payload),
            json!({"Deposited": {"cents": 500, "currency": "USD"}})
        );
        // Nothing to save: nothing written.
        assert!(store.save(&mut account, Vec::new()).await.unwrap().is_empty());
        assert_eq!(store.read_all(0, 10).await.unwrap().len(), 3);
    }

    async fn a_stale_aggregate_is_refused_and_left_as_it_was(db: &TestDb) {
        let store = db.open().await;
        let mut first = store.load::<Account>("a2").await.unwrap();
        let mut second = store.load::<Account>("a2").await.unwrap();
        store.save(&mut first, vec![deposit(1)]).await.unwrap();
        let refused = store.save(&mut second, vec![deposit(2)]).await.unwrap_err();
        match refused {
            StoreError::WrongExpectedVersion { stream, expected, actual } => {
                assert_eq!(stream, "test_account-a2");
                assert_eq!(expected, ExpectedVersion::Exact(0));
                assert_eq!(actual, 1);
            }
            other => panic!("expected WrongExpectedVersion, got {other}"),
        }
        assert_eq!((second.version(), second.cents), (0, 0));
        let reloaded = store.load::<Account>("a2").await.unwrap();
        assert_eq!((reloaded.version(), reloaded.cents), (1, 1));
    }

    async fn snapshots_are_written_every_n_events_and_loaded_from(db: &TestDb) {
        let store = db.open().await;
        let stream = "test_snapshotted-s1";
        let mut account = store.load::<Snapshotted>("s1").await.unwrap();
        store.save(&mut account, vec![deposit(1)]).await.unwrap();
        assert_eq!(snapshot_row(db, stream).await, None);
        store.save(&mut account, vec![deposit(2), deposit(4)]).await.unwrap();
        let (version, state) = snapshot_row(db, stream).await.unwrap();
        assert_eq!(version, 3);
        assert_eq!(state, json!({"owner": "", "cents": 7, "currencies": ["USD", "USD", "USD"]}));
        store.save(&mut account, vec![deposit(8)]).await.unwrap();
        assert_eq!(snapshot_row(db, stream).await.unwrap().0, 4);
        // Loading starts from the snapshot: one that says otherwise than
        // the events shows it.
        db.execute(&format!(
            "UPDATE eventbus_snapshots SET stream_version = 3, \
             state = '{{\"owner\": \"snap\", \"cents\": 1000, \"currencies\": []}}' WHERE stream = '{stream}'"
        ))
        .await;
        let from_snapshot = store.load::<Snapshotted>("s1").await.unwrap();
        assert_eq!((from_snapshot.version(), from_snapshot.0.cents, from_snapshot.0.owner.as_str()), (4, 1008, "snap"));
        // One that no longer reads as the state: the whole stream instead.
        db.execute(&format!(
            "UPDATE eventbus_snapshots SET state = '\"not the state\"' WHERE stream = '{stream}'"
        ))
        .await;
        let replayed = store.load::<Snapshotted>("s1").await.unwrap();
        assert_eq!((replayed.version(), replayed.0.cents), (4, 15));
    }

    async fn stored_version_1_rows_are_upcast_on_load(db: &TestDb) {
        let store = db.open().await;
        let old = EventRecord::new(
            "test.account",
            1,
            br#"{"Deposited": {"cents": 300}}"#.to_vec(),
            Envelope::generate(),
        );
        store.append("test_account-old", ExpectedVersion::NoStream, &[old]).await.unwrap();
        let mut account = store.load::<Account>("old").await.unwrap();
        assert_eq!((account.version(), account.cents, account.currencies.clone()), (1, 300, vec!["EUR".to_owned()]));
        store.save(&mut account, vec![deposit(1)]).await.unwrap();
        assert_eq!(store.load::<Account>("old").await.unwrap().currencies, ["EUR", "USD"]);
        let stored = store.read_stream("test_account-old", 1).await.unwrap();
        let decoded: AccountEvent = stored[0].decode().unwrap();
        assert_eq!(decoded, AccountEvent::Deposited { cents: 300, currency: "EUR".to_owned() });
    }

    async fn an_event_that_no_longer_decodes_names_its_position_and_stream(db: &TestDb) {
        let store = db.open().await;
        let mut account = store.load::<Account>("bad").await.unwrap();
        store.save(&mut account, vec![deposit(1)]).await.unwrap();
        let unfit = EventRecord::new("test.account", 2, br#"{"Deposited": {"cents": "many"}}"#.to_vec(), Envelope::generate());
        store.append("test_account-bad", ExpectedVersion::Exact(1), &[unfit]).await.unwrap();
        let refused = store.load::<Account>("bad").await.unwrap_err();
        let message = refused.to_string();
        assert!(
            message.starts_with("the event at position 2 in stream `test_account-bad` does not decode: "),
            "{message}"
        );
        assert!(matches!(refused, StoreError::Decode { position: 2, .. }), "{refused:?}");
        // Another event's record in the stream: named, not skipped.
        let other = EventRecord::new("test.other", 1, b"{}".to_vec(), Envelope::generate());
        store.append("test_account-other", ExpectedVersion::NoStream, &[other]).await.unwrap();
        let refused = store.load::<Account>("other").await.unwrap_err();
        let message = refused.to_string();
        assert!(
            message.starts_with("the event at position 3 in stream `test_account-other` does not decode: "),
            "{message}"
        );
    }
}

/// The store in memory takes aggregates too.
#[tokio::test]
async fn an_aggregate_in_a_store_in_memory() {
    let store = Store::memory().await.unwrap();
    let mut account = store.load::<Account>("m").await.unwrap();
    store.save(&mut account, vec![deposit(5)]).await.unwrap();
    assert_eq!(store.load::<Account>("m").await.unwrap().cents, 5);
}
