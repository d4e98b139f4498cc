//! Projections: a bus's replay handlers run over the log, from a named
//! checkpoint, each batch in one transaction with the checkpoint.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use eventbus_core::layer::BoxFuture;
use eventbus_core::{BoxError, Bus, Context, Envelope, FromContext, Origin, PublishError};
use sqlx::{Postgres, Sqlite};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::error::StoreError;
use crate::store::Store;

/// How many events a projection reads, and commits, at a time by default.
pub const DEFAULT_PROJECTION_BATCH: usize = 256;

/// How long a projection's claim on its name lasts unless renewed: with
/// each batch's commit (on PostgreSQL the claim is a session lock, which
/// lasts as long as its connection).
const PROJECTION_TTL: Duration = Duration::from_secs(30);

/// A projection about to run, from [`Store::project`]: await it.
#[must_use = "a projection does nothing until awaited"]
pub struct Projection<'a> {
    store: &'a Store,
    name: &'a str,
    bus: &'a Bus,
    from_start: bool,
    /// Run first, in the first batch's transaction, by `rebuild`.
    reset: Option<&'a str>,
    batch: usize,
}

/// Where the event a projection hands its handlers stands in the log: a
/// handler takes it as `Extension<LogPosition>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogPosition {
    /// The event's stream, `account-ada` for an aggregate's.
    pub stream: String,
    /// Its version in the stream.
    pub stream_version: u64,
    /// Its position in the log.
    pub position: u64,
}

/// What a projection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Projected {
    /// How many events it handed to the handlers.
    pub events: u64,
    /// The position it reached: its checkpoint now.
    pub position: u64,
}

impl Store {
    /// Runs `bus`'s replay handlers (`#[subscribe(replay)]`) over the log,
    /// from checkpoint `name` to the end of the log: each event with
    /// origin [`Replay`](Origin::Replay), in position order, in batches;
    /// each batch in one transaction that also saves the checkpoint, so a
    /// handler that writes its read model through the [`Transaction`] it
    /// takes keeps it exactly in step with the checkpoint. A handler that
    /// fails rolls its batch back and stops the projection
    /// ([`StoreError::ProjectionFailed`]); run it again and it resumes
    /// from the checkpoint. One runner per name at a time, across
    /// processes ([`StoreError::ProjectionHeld`]).
    ///
    /// Await it to catch up once; [`Projection::from_start`] rebuilds
    /// (clear the read model first, in the same way it is written).
    ///
    /// On SQLite a batch holds the log's write lock: a replay handler must
    /// not wait for an append to the same store (an `emit` on a bus with
    /// this store as its journal), which would wait for the batch.
    pub fn project<'a>(&'a self, name: &'a str, bus: &'a Bus) -> Projection<'a> {
        Projection {
            store: self,
            name,
            bus,
            from_start: false,
            reset: None,
            batch: DEFAULT_PROJECTION_BATCH,
        }
    }
}

impl<'a> Projection<'a> {
    /// Starts from the beginning of the log rather than the checkpoint.
    pub fn from_start(mut self) -> Self {
        self.from_start = true;
        self
    }

    /// Rebuilds the read model from the start of the log in one call:
    /// runs `reset` (SQL that clears the read model, `DELETE FROM
    /// balances`) in the first batch's transaction, then every event from
    /// the start.
    pub fn rebuild(mut self, reset: &'a str) -> Self {
        self.from_start = true;
        self.reset = Some(reset);
        self
    }

    /// Reads and commits `events` events at a time (256 by default; at
    /// least 1).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    async fn run(self) -> Result<Projected, StoreError> {
        if self.name == "handlers" || self.name.starts_with("sink:") {
            return Err(StoreError::Refused {
                message: format!(
                    "`{}` is a relay's checkpoint (`handlers`, `sink:NAME`): give the \
                     projection a name of its own",
                    self.name
                ),
            });
        }
        let holder = Envelope::generate().id;
        if !self.store.hold(self.name, holder, PROJECTION_TTL).await? {
            return Err(StoreError::ProjectionHeld {
                name: self.name.to_owned(),
            });
        }
        let projected = self.batches(holder).await;
        let released = self.store.release(self.name, holder).await;
        let projected = projected?;
        released?;
        Ok(projected)
    }

    async fn batches(&self, holder: eventbus_core::Uuid) -> Result<Projected, StoreError> {
        let mut position = if self.from_start {
            0
        } else {
            self.store.checkpoint(self.name).await?
        };
        let mut events = 0;
        let mut reset = self.reset;
        loop {
            let batch = self.store.read_all(position, self.batch).await?;
            let last = batch.last().map(|event| event.position);
            if last.is_none() && reset.is_none() {
                return Ok(Projected { events, position });
            }
            let tx = Transaction::begin(self.store).await?;
            if let Some(reset) = reset.take() {
                tx.execute(reset, &[]).await?;
            }
            for event in batch {
                let mut record = event.record;
                record.envelope = record.envelope.with_origin(Origin::Replay);
                let at = LogPosition {
                    stream: event.stream.clone(),
                    stream_version: event.stream_version,
                    position: event.position,
                };
                let delivered = self
                    .bus
                    .inbound(record)
                    .extension(tx.clone())
                    .extension(at)
                    .deliver_async()
                    .await;
                let failed = match delivered {
                    Ok(report) if report.is_ok() => None,
                    Ok(report) => Some(
                        report
                            .failures()
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    // An event of a type this program does not know has
                    // no handler here: nothing to project.
                    Err(PublishError::UnknownEvent { .. }) => None,
                    Err(error) => Some(error.to_string()),
                };
                if let Some(message) = failed {
                    tx.rollback().await;
                    return Err(StoreError::ProjectionFailed {
                        name: self.name.to_owned(),
                        position: event.position,
                        stream: event.stream,
                        checkpoint: position,
                        message,
                    });
                }
                events += 1;
            }
            let last = last.unwrap_or(position);
            if !tx.commit_at(self.store, self.name, last, holder).await? {
                return Err(StoreError::ProjectionHeld {
                    name: self.name.to_owned(),
                });
            }
            position = last;
        }
    }
}

impl<'a> IntoFuture for Projection<'a> {
    type Output = Result<Projected, StoreError>;
    type IntoFuture = BoxFuture<'a, Result<Projected, StoreError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// The store's open transaction during one batch of a projection: a
/// handler takes it as a parameter and writes its read model through it,
/// so the write commits with the projection's checkpoint or not at all.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::store::{Param, StoreError, Transaction};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.deposited")]
/// struct Deposited {
///     account: String,
///     cents: i64,
/// }
///
/// #[subscribe(replay)]
/// async fn balances(deposited: &Deposited, tx: Transaction) -> Result<(), StoreError> {
///     tx.execute(
///         "UPDATE balances SET cents = cents + $1 WHERE account = $2",
///         &[Param::Int(deposited.cents), Param::Text(&deposited.account)],
///     )
///     .await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Transaction {
    open: Arc<Mutex<Option<Open>>>,
}

enum Open {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        /// The log's one writer in this process, held for the batch.
        #[allow(dead_code)]
        tokio::sync::OwnedMutexGuard<Option<sqlx::SqliteConnection>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A value bound to a `$1`, `$2`, ... placeholder of
/// [`Transaction::execute`] (the same SQL runs on SQLite and PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Param<'a> {
    /// An integer (`INTEGER`, `BIGINT`).
    Int(i64),
    /// A floating-point number (`REAL`, `DOUBLE PRECISION`).
    Float(f64),
    /// Text (`TEXT`).
    Text(&'a str),
    /// A boolean (`BOOLEAN`).
    Bool(bool),
    /// `NULL`, as text.
    Null,
}

impl Transaction {
    async fn begin(store: &Store) -> Result<Self, StoreError> {
        let action = "begin a projection's batch";
        let open = match store.writer_for_projection() {
            Ok((pool, writer)) => {
                let guard = writer.lock_owned().await;
                let tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(StoreError::database(action))?;
                Open::Sqlite(tx, guard)
            }
            Err(pool) => Open::Postgres(pool.begin().await.map_err(StoreError::database(action))?),
        };
        Ok(Self {
            open: Arc::new(Mutex::new(Some(open))),
        })
    }

    /// Runs `sql` (placeholders `$1`, `$2`, ... on both databases) with
    /// `params` in the transaction; returns how many rows it changed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database refuses it,
    /// [`StoreError::Refused`] when the batch is over.
    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let action = format!("run `{sql}` in a projection's transaction");
        // One body, written for each database's query type.
        macro_rules! run {
            ($db:ty, $tx:expr) => {{
                let mut query = sqlx::query::<$db>(sql);
                for param in params {
                    query = match *param {
                        Param::Int(value) => query.bind(value),
                        Param::Float(value) => query.bind(value),
                        Param::Text(value) => query.bind(value),
                        Param::Bool(value) => query.bind(value),
                        Param::Null => query.bind(None::<&str>),
                    };
                }
                let done = query
                    .execute(&mut **$tx)
                    .await
                    .map_err(StoreError::database(action))?;
                Ok(done.rows_affected())
            }};
        }
        let mut open = self.open.lock().await;
        match open.as_mut() {
            Some(Open::Sqlite(tx, _)) => run!(Sqlite, tx),
            Some(Open::Postgres(tx)) => run!(Postgres, tx),
            None => Err(over()),
        }
    }

    /// The SQLite transaction, for sqlx queries of your own.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] on PostgreSQL, or when the batch is
    /// over.
    pub async fn sqlite(&self) -> Result<MappedMutexGuard<'_, sqlx::SqliteConnection>, StoreError> {
        MutexGuard::try_map(self.open.lock().await, |open| match open {
            Some(Open::Sqlite(tx, _)) => Some(&mut **tx),
            _ => None,
        })
        .map_err(|open| match &*open {
            Some(_) => StoreError::Refused {
                message: "this projection runs on PostgreSQL: use `Transaction::postgres`".into(),
            },
            None => over(),
        })
    }

    /// The PostgreSQL transaction, for sqlx queries of your own.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] on SQLite, or when the batch is over.
    pub async fn postgres(&self) -> Result<MappedMutexGuard<'_, sqlx::PgConnection>, StoreError> {
        MutexGuard::try_map(self.open.lock().await, |open| match open {
            Some(Open::Postgres(tx)) => Some(&mut **tx),
            _ => None,
        })
        .map_err(|open| match &*open {
            Some(_) => StoreError::Refused {
                message: "this projection runs on SQLite: use `Transaction::sqlite`".into(),
            },
            None => over(),
        })
    }

    /// Saves checkpoint `name` at `position` and commits, if `holder`
    /// still holds the name (renewing the claim); otherwise rolls back and
    /// returns `false`: another runner has the name, and its own place.
    async fn commit_at(
        &self,
        store: &Store,
        name: &str,
        position: u64,
        holder: eventbus_core::Uuid,
    ) -> Result<bool, StoreError> {
        let action = format!("commit projection `{name}` at position {position}");
        let at = i64::try_from(position).unwrap_or(i64::MAX);
        let open = self.open.lock().await.take().ok_or_else(over)?;
        match open {
            Open::Sqlite(mut tx, writer) => {
                // Renewed in the batch's transaction, under the write lock
                // no other runner can take meanwhile.
                let now = std::time::SystemTime::now();
                let held = crate::lease::hold(
                    &mut *tx,
                    name,
                    &crate::row::text(holder),
                    &crate::row::now_text_at(now + PROJECTION_TTL),
                    &crate::row::now_text_at(now),
                    &action,
                )
                .await?;
                if !held {
                    return Ok(false);
                }
                crate::sql::sqlite::save_checkpoint(&mut *tx, name, at, false, &action).await?;
                tx.commit().await.map_err(StoreError::database(action))?;
                drop(writer);
            }
            Open::Postgres(mut tx) => {
                // The session lock goes only with its connection.
                if !store.hold(name, holder, PROJECTION_TTL).await? {
                    return Ok(false);
                }
                crate::sql::postgres::save_checkpoint(&mut *tx, name, at, false, &action).await?;
                tx.commit().await.map_err(StoreError::database(action))?;
            }
        }
        Ok(true)
    }

    /// Rolls the batch back.
    async fn rollback(&self) {
        // Dropping an open sqlx transaction rolls it back.
        drop(self.open.lock().await.take());
    }
}

fn over() -> StoreError {
    StoreError::Refused {
        message: "the projection's batch this transaction belonged to is over: take the \
                  transaction as a handler's parameter and use it during the call"
            .into(),
    }
}

impl FromContext<'_> for Transaction {
    fn from_context(ctx: &Context) -> Result<Self, BoxError> {
        ctx.extension::<Transaction>().cloned().ok_or_else(|| {
            "no store transaction: only a projection (`store.project(name, &bus)`) hands one \
             to its handlers; this delivery came from elsewhere"
                .into()
        })
    }
}
