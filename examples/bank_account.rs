//! An account as an aggregate in the event log: opened, deposits, a
//! withdrawal refused for insufficient funds (a domain error, nothing is
//! written), then the balance rebuilt from the log. Then a bus on the log:
//! a month-end closing published through it, with the statement its
//! handler issues in the same correlation chain; a projection of every
//! account's balance into a table of its own (`bank_balances`, in the
//! same database), rebuilt from zero in one call; and the audit trail
//! printed from the log. Run it twice: the second run finds the account
//! where the first left it and appends.
//!
//! ```sh
//! cargo run --example bank_account --features store                  # sqlite://eventbus.db
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example bank_account --features store
//! ```

use eventbus::prelude::*;
use eventbus::store::{
    Aggregate, LogPosition, Param, Store, StoreError, StorePool, StoredEvent, Transaction,
};
use eventbus::Extension;

/// What happens to an account.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "bank.account")]
enum AccountEvent {
    Opened { owner: String },
    Deposited { cents: u64 },
    Withdrawn { cents: u64 },
}

/// An account: the sum of its events.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Account {
    owner: Option<String>,
    balance: u64,
}

/// Why an account refuses.
#[derive(Debug, thiserror::Error)]
enum AccountError {
    #[error("insufficient funds: the balance is {balance} cents, the withdrawal {wanted}")]
    InsufficientFunds { balance: u64, wanted: u64 },
}

impl Aggregate for Account {
    const NAME: &'static str = "account";
    const SNAPSHOT_EVERY: Option<u64> = Some(10);
    type Event = AccountEvent;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened { owner } => self.owner = Some(owner.clone()),
            AccountEvent::Deposited { cents } => self.balance += cents,
            AccountEvent::Withdrawn { cents } => self.balance -= cents,
        }
    }
}

/// The month is closed for an account: its statement is due.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "bank.month_closed")]
struct MonthClosed {
    account: String,
}

/// A statement went out: a follow-up of the closing.
#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "bank.statement_issued")]
struct StatementIssued {
    account: String,
}

/// Sends the statement (here, a line). Not on replays: a projection never
/// sends it again.
#[subscribe]
fn issue_statement(closed: &MonthClosed, ctx: &Context) {
    println!("statement issued for {}", closed.account);
    ctx.publish(StatementIssued {
        account: closed.account.clone(),
    });
}

/// The read model: each account's balance in `bank_balances`, written in
/// the projection's transaction, with its checkpoint. In a group only the
/// projection's bus selects: it runs in projections, never live.
#[subscribe(replay, group = "read-models")]
async fn project_balance(
    event: &AccountEvent,
    at: Extension<LogPosition>,
    tx: Transaction,
) -> Result<(), StoreError> {
    let account = at.stream.strip_prefix("account-").unwrap_or(&at.stream);
    let change = match event {
        AccountEvent::Opened { .. } => 0,
        AccountEvent::Deposited { cents } => i64::try_from(*cents).unwrap_or(i64::MAX),
        AccountEvent::Withdrawn { cents } => -i64::try_from(*cents).unwrap_or(i64::MAX),
    };
    tx.execute(
        "INSERT INTO bank_balances (account, cents) VALUES ($1, $2) ON CONFLICT (account) \
         DO UPDATE SET cents = bank_balances.cents + excluded.cents",
        &[Param::Text(account), Param::Int(change)],
    )
    .await?;
    Ok(())
}

impl Account {
    /// The decision: a withdrawal the balance covers, or the reason not.
    fn withdraw(&self, cents: u64) -> Result<AccountEvent, AccountError> {
        if cents > self.balance {
            return Err(AccountError::InsufficientFunds {
                balance: self.balance,
                wanted: cents,
            });
        }
        Ok(AccountEvent::Withdrawn { cents })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://eventbus.db".to_owned());
    let store = Store::open(&url).await?;

    let mut account = store.load::<Account>("ada").await?;
    println!(
        "loaded {} at version {}: balance {} cents",
        account.stream(),
        account.version(),
        account.balance
    );
    if account.owner.is_none() {
        store
            .save(
                &mut account,
                vec![AccountEvent::Opened {
                    owner: "Ada".to_owned(),
                }],
            )
            .await?;
        println!("opened for Ada");
    }
    store
        .save(
            &mut account,
            vec![
                AccountEvent::Deposited { cents: 10_000 },
                AccountEvent::Deposited { cents: 2_500 },
            ],
        )
        .await?;
    println!("deposited 10000 and 2500: balance {}", account.balance);

    // A decision the state refuses: nothing is appended.
    match account.withdraw(1_000_000) {
        Ok(event) => drop(store.save(&mut account, vec![event]).await?),
        Err(refused) => println!("withdrawal of 1000000 refused: {refused}"),
    }
    let withdrawal = account.withdraw(4_000)?;
    store.save(&mut account, vec![withdrawal]).await?;
    println!("withdrew 4000: balance {}", account.balance);

    // A second writer that loaded the account before the withdrawal.
    let mut stale = store.load::<Account>("ada").await?;
    store
        .save(&mut account, vec![AccountEvent::Deposited { cents: 1 }])
        .await?;
    match store
        .save(&mut stale, vec![AccountEvent::Deposited { cents: 1 }])
        .await
    {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => {
            println!("a stale writer is refused: the stream moved on to version {actual}");
        }
        other => println!("a stale writer was not refused: {other:?}"),
    }

    let rebuilt = store.load::<Account>("ada").await?;
    println!(
        "rebuilt from the log: version {}, balance {} cents",
        rebuilt.version(),
        rebuilt.balance
    );

    // A bus on the log: what it publishes is logged, follow-ups included.
    let bus = Bus::builder().journal(store.clone()).build()?;
    let closed = bus
        .publish_async(MonthClosed {
            account: "ada".to_owned(),
        })
        .await;
    let closing = closed.event_id();

    // The read model, rebuilt from zero in one call, by a bus that runs
    // the read-model handlers.
    let projector = Bus::builder().groups(["read-models"]).build()?;
    let pool = store.pool();
    read_model(pool, "CREATE TABLE IF NOT EXISTS bank_balances (account TEXT PRIMARY KEY, cents BIGINT NOT NULL)").await?;
    let projected = store
        .project("balances", &projector)
        .rebuild("DELETE FROM bank_balances")
        .await?;
    let balances = balances(pool).await?;
    println!(
        "projected {} events into bank_balances: {balances:?}",
        projected.events
    );

    // The audit trail: the closing and what it caused, from the log.
    let log = store.read_all(0, usize::MAX).await?;
    println!("audit trail of the closing:");
    for event in log
        .iter()
        .filter(|event| event.record.envelope.correlation_id == closing)
    {
        println!("  {}", audit_line(event, &log));
    }
    bus.shutdown().await;
    Ok(())
}

/// One event of the audit trail: its name, payload, and the event that
/// caused it.
fn audit_line(event: &StoredEvent, log: &[StoredEvent]) -> String {
    let cause = event.record.envelope.causation_id.and_then(|cause| {
        log.iter()
            .find(|other| other.record.envelope.id == cause)
            .map(|other| other.record.name.to_string())
    });
    format!(
        "{} {}{}",
        event.record.name,
        event.record.payload_str().unwrap_or("?"),
        cause.map_or_else(String::new, |cause| format!(" (caused by {cause})")),
    )
}

/// Runs `sql` (no parameters) on the database of the log.
async fn read_model(pool: StorePool<'_>, sql: &str) -> Result<(), sqlx::Error> {
    match pool {
        StorePool::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        StorePool::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        _ => Ok(()),
    }
}

/// Every account's balance in the read model.
async fn balances(pool: StorePool<'_>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT account, cents FROM bank_balances ORDER BY account";
    match pool {
        StorePool::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        StorePool::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        _ => Ok(Vec::new()),
    }
}
