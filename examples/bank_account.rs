//! An account as an aggregate in the event log: opened, deposits, a
//! withdrawal refused for insufficient funds (a domain error, nothing is
//! written), then the balance rebuilt from the log. Run it twice: the
//! second run finds the account where the first left it and appends.
//!
//! ```sh
//! cargo run --example bank_account --features store                  # sqlite://eventbus.db
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example bank_account --features store
//! ```

use eventbus::prelude::*;
use eventbus::store::{Aggregate, Store, StoreError};

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
    Ok(())
}
