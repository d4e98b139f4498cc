//! [`StoreError`]: everything the store can refuse or fail at.

use uuid::Uuid;

use crate::expected::ExpectedVersion;

/// Why a store call failed. Each message says what was wrong, where (the
/// stream, the position) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stream was not at the version the append expected; nothing
    /// was written.
    #[error(
        "stream `{stream}` is at version {actual}, but the append expected {expected}: \
         nothing was written; read the stream again, decide again and append with the \
         version read (or `ExpectedVersion::Any` if order does not matter)"
    )]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The version the stream was at.
        actual: u64,
    },
    /// The URL names no backend the store has.
    #[error(
        "`{url}` is not a store URL: use `sqlite://path/to/file.db` (created if missing), \
         `sqlite::memory:` or `postgres://user@host:5432/database`"
    )]
    UnsupportedUrl {
        /// The URL as given, password hidden.
        url: String,
    },
    /// The database refused or could not be reached.
    #[error("could not {action}: {source}")]
    Database {
        /// What the store was doing, with the stream or position.
        action: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// SQLite stayed locked by another writer (another process, or a
    /// tool holding a write transaction) past the busy timeout.
    #[error(
        "could not {action}: the database stayed locked by another writer for {} s (the \
         busy timeout); nothing was written: retry, and look for a process that holds a write \
         transaction open",
        crate::store::BUSY_TIMEOUT.as_secs()
    )]
    Locked {
        /// What the store was doing, with the stream or position.
        action: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database's schema was written by a newer eventbus.
    #[error(
        "the event log's schema is at version {applied}, but this eventbus knows versions up \
         to {known}: a newer eventbus wrote it; upgrade eventbus to open this database"
    )]
    NewerSchema {
        /// The schema version the database records.
        applied: usize,
        /// The last schema version this eventbus knows (they differ per
        /// database).
        known: usize,
    },
    /// A record cannot be written to the log.
    #[error("event {event_id} (`{name}`) cannot be stored: {message}")]
    Unstorable {
        /// The record's event id.
        event_id: Uuid,
        /// The record's event name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// An aggregate's state cannot be written as a snapshot; nothing was
    /// written.
    #[error(
        "the snapshot of stream `{stream}` cannot be written as JSON: {message}; \
         make the aggregate's state serializable or turn its snapshots off"
    )]
    Snapshot {
        /// The aggregate's stream.
        stream: String,
        /// serde's message.
        message: String,
    },
    /// A row of the log cannot be read back as a record.
    #[error(
        "the row at position {position} in stream `{stream}` cannot be read: {message}; \
         it was written by another program or edited by hand"
    )]
    Corrupt {
        /// Its position.
        position: u64,
        /// Its stream.
        stream: String,
        /// What is wrong with it.
        message: String,
    },
    /// Another runner (in this process or another) holds the
    /// projection's name.
    #[error(
        "projection `{name}` is already running (another runner holds its name): run one at a \
         time; wait for it to finish, or stop it"
    )]
    ProjectionHeld {
        /// The projection's name.
        name: String,
    },
    /// A handler failed during a projection; nothing of the batch was
    /// kept and the checkpoint did not move.
    #[error(
        "projection `{name}` stopped at position {position} (stream `{stream}`): {message}; \
         nothing of the batch after position {checkpoint} was kept: fix the handler and run \
         the projection again, it resumes there"
    )]
    ProjectionFailed {
        /// The projection's name.
        name: String,
        /// The position of the event whose handler failed.
        position: u64,
        /// Its stream.
        stream: String,
        /// The checkpoint the projection resumes from.
        checkpoint: u64,
        /// The handlers' failures.
        message: String,
    },
    /// A request that cannot be done as asked: a
    /// [`Transaction`](crate::Transaction) used outside its batch or as
    /// the other database's, a dead letter that is not there or is a
    /// sink's, a projection named like a relay. The message says what to
    /// do instead.
    #[error("{message}")]
    Refused {
        /// What was wrong.
        message: String,
    },
    /// A stored record does not decode as the event type asked for.
    #[error("the event at position {position} in stream `{stream}` does not decode: {source}")]
    Decode {
        /// Its position.
        position: u64,
        /// Its stream.
        stream: String,
        /// Why: an unknown or other name, a missing upcaster, JSON that no
        /// longer fits the type.
        #[source]
        source: eventbus_core::PublishError,
    },
}

impl StoreError {
    /// The error of a database call made to do `action`.
    pub(crate) fn database(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let action = action.into();
        move |source| {
            // SQLITE_BUSY, with or without an extended code: the lock was
            // not granted within the busy timeout.
            let busy = source.as_database_error().is_some_and(|error| {
                error
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .is_some()
                    && error
                        .code()
                        .and_then(|code| code.parse::<i32>().ok())
                        // Not SQLITE_BUSY_SNAPSHOT (517), which does not wait.
                        .is_some_and(|code| code & 0xff == 5 && code != 517)
            });
            if busy {
                Self::Locked { action, source }
            } else {
                Self::Database { action, source }
            }
        }
    }
}
