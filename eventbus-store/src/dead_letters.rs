//! [`StoreDeadLetters`]: a bus's dead letters kept in
//! `eventbus_dead_letters`, to list, retry and purge.

use std::sync::Arc;
use std::time::SystemTime;

use eventbus_core::{Bus, DeadLetter, DeadLetters, Report, Uuid};
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, Notify};

use crate::error::StoreError;
use crate::row::{now_text_at, text};
use crate::store::{Backend, Store};

/// The dead letters of a bus, written to the log's `eventbus_dead_letters`
/// table: each with its event id, name, payload, the handler or sink that
/// gave up, the error and the attempts. Give it with
/// `Bus::builder().dead_letters(StoreDeadLetters::new(&store))`.
///
/// The bus hands a letter over without waiting; a task on the runtime
/// that made this writes it (a letter it cannot write is logged with
/// `tracing`, as an error, with the whole letter).
/// [`written`](Self::written) waits until every letter handed over is
/// in the table.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::store::{Store, StoreDeadLetters};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.charge")]
/// struct Charge {
///     cents: u32,
/// }
///
/// #[subscribe]
/// fn charge(_: &Charge) -> Result<(), String> {
///     Err("card declined".into())
/// }
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::memory().await?;
/// let letters = StoreDeadLetters::new(&store);
/// let bus = Bus::builder().dead_letters(letters.clone()).build()?;
/// let _ = bus.publish(Charge { cents: 250 });
/// letters.written().await;
/// let kept = letters.list(10).await?;
/// assert_eq!(kept[0].error, "returned an error: card declined");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct StoreDeadLetters {
    store: Store,
    letters: mpsc::UnboundedSender<DeadLetter>,
    progress: Arc<Progress>,
}

#[derive(Default)]
struct Progress {
    handed: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
    wake: Notify,
}

/// A dead letter read back from `eventbus_dead_letters`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredDeadLetter {
    /// Its row.
    pub id: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's name.
    pub name: String,
    /// The event as JSON (`null` for a local event, never encoded).
    pub payload: String,
    /// The handler that gave up, by its full path.
    pub handler: Option<String>,
    /// The sink that gave up.
    pub sink: Option<String>,
    /// Why: the kind of failure and its message, `returned an error: card
    /// declined`.
    pub error: String,
    /// How many times it was tried.
    pub attempts: u32,
    /// When it was given up on, RFC 3339.
    pub failed_at: String,
}

impl StoreDeadLetters {
    /// Dead letters kept in `store`, written by a task on the current
    /// tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[must_use]
    pub fn new(store: &Store) -> Self {
        let (letters, mut receiver) = mpsc::unbounded_channel::<DeadLetter>();
        let progress = Arc::new(Progress::default());
        let writer = store.clone();
        let written = Arc::clone(&progress);
        tokio::spawn(async move {
            while let Some(letter) = receiver.recv().await {
                if let Err(error) = insert(&writer, &letter).await {
                    tracing::error!(target: "eventbus", "a dead letter could not be written to the log ({error}): {letter}; payload {:?}", letter.payload);
                }
                written
                    .done
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                written.wake.notify_waiters();
            }
        });
        Self {
            store: store.clone(),
            letters,
            progress,
        }
    }

    /// Waits until every letter handed over so far is written (or
    /// logged as unwritable), or the writer has stopped with its runtime.
    pub async fn written(&self) {
        let handed = self
            .progress
            .handed
            .load(std::sync::atomic::Ordering::Acquire);
        loop {
            let woken = self.progress.wake.notified();
            if self
                .progress
                .done
                .load(std::sync::atomic::Ordering::Acquire)
                >= handed
                || self.letters.is_closed()
            {
                return;
            }
            // Looks again now and then too: the writer may have stopped.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), woken).await;
        }
    }

    /// Up to `limit` dead letters, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database fails;
    /// [`StoreError::Corrupt`] for a row that another program wrote wrong.
    pub async fn list(&self, limit: usize) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let action = "list the dead letters";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<Row> = match &self.store.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_as(&format!("{SELECT} LIMIT $1"))
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(StoreError::database(action))?,
            Backend::Postgres { pool, .. } => sqlx::query_as(&format!("{SELECT_PG} LIMIT $1"))
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(StoreError::database(action))?,
        };
        rows.into_iter().map(Row::into_letter).collect()
    }

    /// Delivers dead letter `id` again, with its original envelope (read
    /// from `eventbus_events` by its event id), to the handler that gave
    /// up on it (to all of its handlers when no handler did), and removes
    /// the letter when every handler succeeds. Returns the report.
    ///
    /// # Errors
    ///
    /// [`StoreError::Refused`] naming what is missing: no letter
    /// `id`, or its event not in the log (a bus without the store as its
    /// journal); [`StoreError::Database`] when the database fails.
    pub async fn retry(&self, id: i64, bus: &Bus) -> Result<Report, StoreError> {
        let letter = self.get(id).await?;
        let missing = |message: String| StoreError::Refused { message };
        if let (None, Some(sink)) = (&letter.handler, &letter.sink) {
            // Delivering to the handlers would not reach the sink.
            return Err(missing(format!(
                "dead letter {id} is sink `{sink}`'s: `retry` delivers to handlers; send the \
                 record again through the sink, then `purge(Some({id}))`"
            )));
        }
        let stored = self
            .store
            .read_event(letter.event_id)
            .await?
            .ok_or_else(|| {
                missing(format!(
                    "dead letter {id}: event {} (`{}`) is not in the log, so it cannot be \
                     delivered with its envelope; only a bus with the store as its journal logs \
                     its events",
                    letter.event_id, letter.name
                ))
            })?;
        let mut inbound = bus.inbound(stored.record);
        if let Some(handler) = &letter.handler {
            inbound = inbound.handler(handler);
        }
        let report = inbound
            .deliver_async()
            .await
            .map_err(|error| missing(format!("dead letter {id} cannot be delivered: {error}")))?;
        if report.is_ok() {
            self.purge(Some(id)).await?;
        }
        Ok(report)
    }

    /// Removes dead letter `id`, or every one with `None`; returns how
    /// many went.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database fails.
    pub async fn purge(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let action = "purge dead letters";
        macro_rules! purge {
            ($db:ty, $pool:expr) => {{
                let mut query = QueryBuilder::<$db>::new("DELETE FROM eventbus_dead_letters");
                if let Some(id) = id {
                    query.push(" WHERE id = ").push_bind(id);
                }
                query
                    .build()
                    .execute($pool)
                    .await
                    .map(|done| done.rows_affected())
            }};
        }
        let done = match &self.store.backend {
            Backend::Sqlite { pool, .. } => purge!(sqlx::Sqlite, pool),
            Backend::Postgres { pool, .. } => purge!(sqlx::Postgres, pool),
        };
        done.map_err(StoreError::database(action))
    }

    async fn get(&self, id: i64) -> Result<StoredDeadLetter, StoreError> {
        let action = format!("read dead letter {id}");
        let row: Option<Row> = match &self.store.backend {
            Backend::Sqlite { pool, .. } => sqlx::query_as(&format!("{SELECT_WHERE} $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::database(&*action))?,
            Backend::Postgres { pool, .. } => sqlx::query_as(&format!("{SELECT_WHERE_PG} $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::database(&*action))?,
        };
        row.ok_or_else(|| StoreError::Refused {
            message: format!("there is no dead letter {id}: list them with `list`"),
        })?
        .into_letter()
    }
}

impl DeadLetters for StoreDeadLetters {
    fn push(&self, letter: DeadLetter) {
        self.progress
            .handed
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Err(refused) = self.letters.send(letter) {
            self.progress
                .done
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let letter = refused.0;
            tracing::error!(target: "eventbus", "a dead letter could not be written to the log (its writer stopped with its runtime): {letter}; payload {:?}", letter.payload);
        }
    }
}

/// The columns of a dead letter, as [`Row`] reads them: as SQLite keeps
/// them, and with PostgreSQL's types turned to text.
macro_rules! columns {
    (sqlite) => {
        "id, event_id, name, payload, handler, sink, error, attempts, failed_at"
    };
    (postgres) => {
        "id, event_id::text, name, payload::text, handler, sink, error, attempts::bigint, \
         to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    };
}

const SELECT: &str = concat!(
    "SELECT ",
    columns!(sqlite),
    " FROM eventbus_dead_letters ORDER BY id"
);
const SELECT_PG: &str = concat!(
    "SELECT ",
    columns!(postgres),
    " FROM eventbus_dead_letters ORDER BY id"
);
const SELECT_WHERE: &str = concat!(
    "SELECT ",
    columns!(sqlite),
    " FROM eventbus_dead_letters WHERE id ="
);
const SELECT_WHERE_PG: &str = concat!(
    "SELECT ",
    columns!(postgres),
    " FROM eventbus_dead_letters WHERE id ="
);

/// A row of `eventbus_dead_letters`, in [`columns!`]'s order.
type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    String,
);

trait IntoLetter {
    fn into_letter(self) -> Result<StoredDeadLetter, StoreError>;
}

impl IntoLetter for Row {
    fn into_letter(self) -> Result<StoredDeadLetter, StoreError> {
        let (id, event_id, name, payload, handler, sink, error, attempts, failed_at) = self;
        let corrupt = |message: String| StoreError::Corrupt {
            position: 0,
            stream: format!("eventbus_dead_letters row {id}"),
            message,
        };
        Ok(StoredDeadLetter {
            id,
            event_id: Uuid::parse_str(&event_id).map_err(|error| {
                corrupt(format!("`event_id` {event_id:?} is not a UUID: {error}"))
            })?,
            name,
            payload,
            handler,
            sink,
            error,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            failed_at,
        })
    }
}

async fn insert(store: &Store, letter: &DeadLetter) -> Result<(), StoreError> {
    let action = format!("write the dead letter of event {}", letter.event_id);
    let payload = letter
        .payload
        .as_ref()
        .map_or_else(|| "null".to_owned(), ToString::to_string);
    let handler = letter
        .handler
        .as_ref()
        .map(eventbus_core::HandlerInfo::handler_name);
    let error = format!("{}: {}", letter.kind, letter.message);
    let failed_at = now_text_at(SystemTime::now());
    let event_id = text(letter.event_id);
    let attempts = i64::from(letter.attempts);
    macro_rules! insert {
        ($db:ty, $pool:expr, $uuid:literal, $json:literal, $time:literal) => {{
            let mut query = QueryBuilder::<$db>::new(
                "INSERT INTO eventbus_dead_letters (event_id, name, payload, handler, sink, error, \
                 attempts, failed_at) VALUES (",
            );
            let mut values = query.separated(", ");
            values.push_bind(event_id.as_str()).push_unseparated($uuid);
            values.push_bind(letter.event_name);
            values.push_bind(payload.as_str()).push_unseparated($json);
            values.push_bind(handler);
            values.push_bind(letter.sink.as_deref());
            values.push_bind(error.as_str());
            values.push_bind(attempts);
            values.push_bind(failed_at.as_str()).push_unseparated($time);
            query.push(")");
            query.build().execute($pool).await.map(drop)
        }};
    }
    match &store.backend {
        Backend::Sqlite { pool, writer } => {
            // Through the log's one writer: not a second writer waiting on
            // SQLite's lock.
            let mut writer = writer.lock().await;
            if let Some(connection) = writer.as_mut() {
                insert!(sqlx::Sqlite, connection, "", "", "")
            } else {
                insert!(sqlx::Sqlite, pool, "", "", "")
            }
        }
        Backend::Postgres { pool, .. } => {
            insert!(sqlx::Postgres, pool, "::uuid", "::jsonb", "::timestamptz")
        }
    }
    .map_err(StoreError::database(action))
}
