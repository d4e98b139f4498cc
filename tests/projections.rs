//! Projections on SQLite and PostgreSQL: `store.project(name, &bus)` runs
//! the replay handlers over the log in batches, each committed with its
//! checkpoint; a handler that fails after writing leaves nothing of its
//! batch; a restart resumes from the checkpoint and ends where a full
//! rebuild ends; handlers without `replay` never run; one runner per name.

#[path = "../eventbus-store/tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use eventbus::prelude::*;
use eventbus::store::{ExpectedVersion, LogPosition, Param, Projected, StoreError, Transaction};
use eventbus::{Envelope, EventRecord, Journal};
use serde::{Deserialize, Serialize};
use support::TestDb;

#[derive(Event, Debug, Serialize, Deserialize)]
#[event(name = "projection.deposited")]
struct Deposited {
    account: String,
    cents: i64,
}

/// The deposit whose handler fails, after writing; 0 for none.
static FAIL_ON: AtomicI64 = AtomicI64::new(0);
/// How many receipts were sent: never on a replay.
static RECEIPTS: AtomicUsize = AtomicUsize::new(0);
/// Tests in this file share the two above: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[subscribe(replay)]
async fn balances(deposited: &Deposited, tx: Transaction) -> Result<(), String> {
    tx.execute(
        "INSERT INTO balances (account, cents) VALUES ($1, $2) ON CONFLICT (account) \
         DO UPDATE SET cents = balances.cents + excluded.cents",
        &[Param::Text(&deposited.account), Param::Int(deposited.cents)],
    )
    .await
    .map_err(|error| error.to_string())?;
    if FAIL_ON.load(Ordering::Acquire) == deposited.cents {
        return Err(format!("deposit {} refused by the test", deposited.cents));
    }
    Ok(())
}

/// Where each replayed event stood in the log.
static AT: std::sync::Mutex<Vec<(String, u64, u64)>> = std::sync::Mutex::new(Vec::new());

#[subscribe(replay)]
fn note_position(_: &Deposited, at: eventbus::Extension<LogPosition>) {
    AT.lock()
        .unwrap()
        .push((at.stream.clone(), at.stream_version, at.position));
}

#[subscribe]
fn send_receipt(_: &Deposited) {
    RECEIPTS.fetch_add(1, Ordering::AcqRel);
}

const BALANCES: &str = "SELECT account, cents FROM balances ORDER BY account";

async fn deposits(db: &TestDb) -> eventbus::store::Store {
    let store = db.open().await;
    db.execute("CREATE TABLE balances (account TEXT PRIMARY KEY, cents BIGINT NOT NULL)")
        .await;
    for cents in 1..=10 {
        let account = if cents % 2 == 0 { "even" } else { "odd" };
        let deposited = Deposited {
            account: account.to_owned(),
            cents,
        };
        let record = EventRecord::from_event(&deposited, Envelope::generate()).unwrap();
        store
            .append(
                &format!("account-{account}"),
                ExpectedVersion::Any,
                &[record],
            )
            .await
            .unwrap();
    }
    store
}

conformance! {
    async fn a_failed_batch_keeps_nothing_and_a_restart_ends_where_a_rebuild_does(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        RECEIPTS.store(0, Ordering::Release);
        let store = deposits(db).await;
        let bus = Bus::new();

        // Batches of three: 1-3 commit; 6 fails after writing, so 4-6 roll back.
        FAIL_ON.store(6, Ordering::Release);
        let failed = store.project("balances", &bus).batch_size(3).await.unwrap_err();
        assert_eq!(
            failed.to_string(),
            "projection `balances` stopped at position 6 (stream `account-even`): handler \
             projections::balances returned an error on projection.deposited: deposit 6 refused \
             by the test; nothing of the batch after position 3 was kept: fix the handler and run \
             the projection again, it resumes there"
        );
        assert_eq!(db.text_and_int(BALANCES).await, [("even".to_owned(), 2), ("odd".to_owned(), 4)]);
        assert_eq!(Journal::checkpoint(&store, "balances").await.unwrap(), 3);

        // Fixed and run again: it resumes at 4.
        FAIL_ON.store(0, Ordering::Release);
        let resumed = store.project("balances", &bus).batch_size(3).await.unwrap();
        assert_eq!((resumed.events, resumed.position), (7, 10));
        let caught_up = db.text_and_int(BALANCES).await;
        assert_eq!(caught_up, [("even".to_owned(), 30), ("odd".to_owned(), 25)]);
        // Nothing new: nothing to do.
        let again: Projected = store.project("balances", &bus).await.unwrap();
        assert_eq!((again.events, again.position), (0, 10));

        // A rebuild from zero, in one call, ends in the same read model.
        AT.lock().unwrap().clear();
        let rebuilt = store.project("balances", &bus).rebuild("DELETE FROM balances").await.unwrap();
        assert_eq!((rebuilt.events, rebuilt.position), (10, 10));
        assert_eq!(db.text_and_int(BALANCES).await, caught_up);
        let at = AT.lock().unwrap().clone();
        assert_eq!(at.len(), 10);
        assert_eq!(at[..3], [
            ("account-odd".to_owned(), 1, 1),
            ("account-even".to_owned(), 1, 2),
            ("account-odd".to_owned(), 2, 3),
        ]);
        assert_eq!(RECEIPTS.load(Ordering::Acquire), 0, "side effects never run on a replay");
    }

    async fn one_runner_per_projection_name(db: &TestDb) {
        let _serial = SERIAL.lock().await;
        FAIL_ON.store(0, Ordering::Release);
        let store = deposits(db).await;
        let bus = Bus::new();
        // Another runner, in another process (another store on the database).
        let elsewhere = db.open().await;
        let other = Envelope::generate().id;
        assert!(Journal::hold(&elsewhere, "balances", other, Duration::from_secs(30)).await.unwrap());
        let held = store.project("balances", &bus).await.unwrap_err();
        assert!(matches!(held, StoreError::ProjectionHeld { .. }), "{held:?}");
        assert_eq!(
            held.to_string(),
            "projection `balances` is already running (another runner holds its name): run one \
             at a time; wait for it to finish, or stop it"
        );
        Journal::release(&elsewhere, "balances", other).await.unwrap();
        let projected = store.project("balances", &bus).await.unwrap();
        assert_eq!(projected.events, 10);
        // A relay's checkpoint is not a projection's name.
        let refused = store.project("handlers", &bus).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`handlers` is a relay's checkpoint (`handlers`, `sink:NAME`): give the projection a \
             name of its own"
        );
    }
}
