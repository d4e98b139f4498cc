//! [`Store`]: the event log, opened by URL.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventbus_core::{EventRecord, Uuid};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};
use sqlx::Connection;
use tokio::sync::Notify;

use crate::error::StoreError;
use crate::expected::ExpectedVersion;
use crate::row::{NewRow, ReadRow};
use crate::sql::{postgres, sqlite, Read, Snapshot};
use crate::stored::StoredEvent;
use crate::{fast, lease};

/// The session advisory lock that holds a reader's name on PostgreSQL:
/// eventbus's key for readers and the hash of the schema and the name.
const LEASE_LOCK: &str =
    "SELECT pg_try_advisory_lock(1702257154, hashtext(current_schema() || '/' || $1))";

/// How long an SQLite connection waits for another process's write lock
/// before it fails.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The event log: an append-only table of event records in SQLite or
/// PostgreSQL, ordered by position, grouped in streams. Cheap to clone;
/// clones share one connection pool.
///
/// ```
/// use eventbus_store::{ExpectedVersion, Store};
/// use eventbus_core::{Envelope, EventRecord};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), eventbus_store::StoreError> {
/// let store = Store::memory().await?;
/// let opened = EventRecord::new("account.opened", 1, br#"{"owner":"ada"}"#.to_vec(), Envelope::generate());
/// let positions = store.append("account-1", ExpectedVersion::NoStream, &[opened]).await?;
/// assert_eq!(positions, [1]);
/// let stream = store.read_stream("account-1", 1).await?;
/// assert_eq!(stream[0].record.name, "account.opened");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Woken after every append through this store or its clones, for
    /// the tails that wait at the end of the log.
    appended: Arc<Notify>,
}

/// The connection pool of a [`Store`], by database: [`Store::pool`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum StorePool<'a> {
    /// SQLite's. Write through it with care: the store's appends take
    /// SQLite's one write lock, and a long write of yours holds them up.
    Sqlite(&'a SqlitePool),
    /// PostgreSQL's.
    Postgres(&'a PgPool),
}

/// SQLite's one writer in this process: its connection, or `None` to
/// write through the pool (a database in memory).
pub(crate) type Writer = Arc<tokio::sync::Mutex<Option<SqliteConnection>>>;

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite {
        pool: SqlitePool,
        /// One writer in this process: appends queue here rather than
        /// on SQLite's busy timeout, and write through a connection of
        /// their own (`None`: through the pool, whose one connection is
        /// the database in memory).
        writer: Writer,
    },
    Postgres {
        pool: PgPool,
        /// The readers' names this process holds, each by a session
        /// advisory lock on a connection of its own (closing it, as a
        /// crash does, releases the name).
        leases: Arc<tokio::sync::Mutex<HashMap<String, (Uuid, PgConnection)>>>,
    },
}

impl Store {
    /// Opens the log at `url` and brings its tables to this version's
    /// schema (under a lock, so several processes may open it at once):
    ///
    /// - `sqlite://path/to/file.db`: the file is created if missing, in
    ///   WAL mode, with a 5 s busy timeout; appends take the write lock
    ///   first (`BEGIN IMMEDIATE`), one at a time in this process.
    /// - `sqlite::memory:`: as [`Store::memory`].
    /// - `postgres://user@host:5432/database` (or `postgresql://`): the
    ///   tables live in the connection's current schema (set it with
    ///   `?options[search_path]=name`); `sslmode=require` and the other
    ///   `sslmode`s use rustls.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnsupportedUrl`] for another scheme,
    /// [`StoreError::Database`] when the database cannot be reached or
    /// refuses the schema, [`StoreError::NewerSchema`] when a newer
    /// eventbus wrote it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url == "sqlite::memory:" {
            return Self::memory().await;
        }
        let unsupported = || StoreError::UnsupportedUrl { url: redact(url) };
        let (scheme, _) = url.split_once(':').ok_or_else(unsupported)?;
        let backend = match scheme {
            "sqlite" => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(StoreError::database(format!(
                        "read the URL `{}`",
                        redact(url)
                    )))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(BUSY_TIMEOUT);
                let opening = || format!("open `{}`", redact(url));
                // A connection to a local file does not go stale: no ping
                // before each use.
                let pool = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .connect_with(options.clone())
                    .await
                    .map_err(StoreError::database(opening()))?;
                let writer = SqliteConnection::connect_with(&options)
                    .await
                    .map_err(StoreError::database(opening()))?;
                Self::sqlite(pool, Some(writer))
            }
            "postgres" | "postgresql" => {
                let connecting = || format!("connect to `{}`", redact(url));
                let options =
                    PgConnectOptions::from_str(url).map_err(StoreError::database(connecting()))?;
                // One connection first: a server that is down fails here at
                // once, where the pool would retry until its timeout.
                PgConnection::connect_with(&options)
                    .await
                    .map_err(StoreError::database(connecting()))?
                    .close()
                    .await
                    .map_err(StoreError::database(connecting()))?;
                // The pool pings a connection before lending it (a round
                // trip), so one broken by a server restart is replaced, not
                // handed to an append.
                let pool = PgPoolOptions::new()
                    .connect_with(options)
                    .await
                    .map_err(StoreError::database(connecting()))?;
                Backend::Postgres {
                    pool,
                    leases: Arc::default(),
                }
            }
            _ => return Err(unsupported()),
        };
        let store = Self::with(backend);
        store.apply_schema().await?;
        Ok(store)
    }

    /// A log in memory (SQLite), for tests: empty, gone when the last
    /// clone drops.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] if SQLite cannot start.
    pub async fn memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(StoreError::database("open a database in memory"))?;
        // One connection, kept for the pool's life: each connection to
        // `:memory:` is a database of its own.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::database("open a database in memory"))?;
        let store = Self::with(Self::sqlite(pool, None));
        store.apply_schema().await?;
        Ok(store)
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            appended: Arc::new(Notify::new()),
        }
    }

    fn sqlite(pool: SqlitePool, writer: Option<SqliteConnection>) -> Backend {
        Backend::Sqlite {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
        }
    }

    async fn apply_schema(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => sqlite::apply_schema(pool, crate::schema::SQLITE).await,
            Backend::Postgres { pool, .. } => {
                postgres::apply_schema(pool, crate::schema::POSTGRES).await
            }
        }
    }

    /// Appends `records` to `stream`, at the versions after its last, in
    /// one transaction: all or none. Returns the position of each record,
    /// in order. The rows are written with `handled = false`: no handler
    /// has seen them.
    ///
    /// A record whose event id is in the log already is not written again:
    /// its stored position is returned, so retrying an append that
    /// committed (after a timeout, say) is safe; when every record is
    /// stored already, `expected` is not checked.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongExpectedVersion`] when the stream is not at
    /// `expected` (nothing is written), [`StoreError::Unstorable`] for a
    /// record whose payload is not JSON, [`StoreError::Database`] when the
    /// database fails or is locked past its busy timeout.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        records: &[EventRecord],
    ) -> Result<Vec<u64>, StoreError> {
        self.append_with(stream, expected, records, None).await
    }

    /// [`Store::append`], writing `snapshot` in the same transaction.
    pub(crate) async fn append_with(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        records: &[EventRecord],
        snapshot: Option<&Snapshot<'_>>,
    ) -> Result<Vec<u64>, StoreError> {
        let rows = records
            .iter()
            .map(|record| NewRow::new(stream, record, false))
            .collect::<Result<Vec<_>, _>>()?;
        let action = format!("append to stream `{stream}`");
        self.append_rows(&rows, Some((stream, expected)), snapshot, &action)
            .await
    }

    /// Appends `rows` in one transaction: with `check`, only if that
    /// stream is at the expected version; the others at whatever version
    /// their streams hold.
    pub(crate) async fn append_rows(
        &self,
        rows: &[NewRow<'_>],
        check: Option<(&str, ExpectedVersion)>,
        snapshot: Option<&Snapshot<'_>>,
        action: &str,
    ) -> Result<Vec<u64>, StoreError> {
        // The common append (no snapshot, new records to one stream) in
        // as few round trips as the database allows; the general path
        // when it writes nothing, to say why or to write the records not
        // stored yet.
        let fast = check
            .or_else(|| rows.first().map(|row| (row.stream, ExpectedVersion::Any)))
            .filter(|&(stream, _)| snapshot.is_none() && fast::fits(stream, rows));
        let positions = match &self.backend {
            Backend::Sqlite { pool, writer } => {
                let mut writer = writer.lock().await;
                let mut pooled;
                let connection = if let Some(connection) = writer.as_mut() {
                    connection
                } else {
                    pooled = pool.acquire().await.map_err(StoreError::database(action))?;
                    &mut *pooled
                };
                let appended = if let Some((stream, expected)) = fast {
                    fast::sqlite(connection, stream, expected, rows)
                        .await
                        .map_err(StoreError::database(action))?
                } else {
                    None
                };
                if let Some(positions) = appended {
                    positions
                } else {
                    sqlite::append(connection, rows, check, snapshot, action).await?
                }
            }
            Backend::Postgres { pool, .. } => {
                let appended = if let Some((stream, expected)) = fast {
                    fast::postgres(pool, stream, expected, rows)
                        .await
                        .map_err(StoreError::database(action))?
                } else {
                    None
                };
                if let Some(positions) = appended {
                    positions
                } else {
                    let mut connection =
                        pool.acquire().await.map_err(StoreError::database(action))?;
                    postgres::append(&mut connection, rows, check, snapshot, action).await?
                }
            }
        };
        self.appended.notify_waiters();
        Ok(positions)
    }

    /// The connection pool of the database the log is in, for tables of
    /// your own beside it: a projection's read model, created and read
    /// with sqlx 0.8 (a dependency of yours: the store does not re-export
    /// it).
    #[must_use]
    pub fn pool(&self) -> StorePool<'_> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => StorePool::Sqlite(pool),
            Backend::Postgres { pool, .. } => StorePool::Postgres(pool),
        }
    }

    /// What a projection's batch runs on: SQLite's pool and its writer
    /// (held for the batch), or PostgreSQL's pool.
    pub(crate) fn writer_for_projection(&self) -> Result<(&SqlitePool, Writer), &PgPool> {
        match &self.backend {
            Backend::Sqlite { pool, writer } => Ok((pool, Arc::clone(writer))),
            Backend::Postgres { pool, .. } => Err(pool),
        }
    }

    /// The position the reader named `name` has saved; 0 if none.
    pub(crate) async fn checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let action = format!("read checkpoint `{name}`");
        let position = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlite::checkpoint(pool, name, &action).await?,
            Backend::Postgres { pool, .. } => postgres::checkpoint(pool, name, &action).await?,
        };
        Ok(position.map_or(0, |position| u64::try_from(position).unwrap_or_default()))
    }

    /// Saves `position` as the one the reader named `name` has reached,
    /// unless a later one is saved: it never moves back.
    pub(crate) async fn save_checkpoint(
        &self,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        let action = format!("save checkpoint `{name}` at position {position}");
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        match &self.backend {
            Backend::Sqlite { pool, writer } => {
                let mut writer = writer.lock().await;
                if let Some(connection) = writer.as_mut() {
                    sqlite::save_checkpoint(connection, name, position, true, &action).await
                } else {
                    sqlite::save_checkpoint(pool, name, position, true, &action).await
                }
            }
            Backend::Postgres { pool, .. } => {
                postgres::save_checkpoint(pool, name, position, true, &action).await
            }
        }
    }

    /// Claims the reader named `name` for `holder` (see
    /// [`Journal::hold`](eventbus_core::Journal::hold)): on SQLite a row
    /// in `eventbus_leases` that expires `ttl` from now unless renewed; on
    /// PostgreSQL a session advisory lock, released when its connection
    /// closes.
    pub(crate) async fn hold(
        &self,
        name: &str,
        holder: Uuid,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let action = format!("claim reader `{name}`");
        match &self.backend {
            Backend::Sqlite { pool, writer } => {
                let holder = crate::row::text(holder);
                let mut writer = writer.lock().await;
                // The claim runs from now, after any wait for the writer.
                let now = SystemTime::now();
                let (now, until) = (
                    crate::row::now_text_at(now),
                    crate::row::now_text_at(now + ttl),
                );
                if let Some(connection) = writer.as_mut() {
                    lease::hold(connection, name, &holder, &until, &now, &action).await
                } else {
                    lease::hold(pool, name, &holder, &until, &now, &action).await
                }
            }
            Backend::Postgres { pool, leases } => {
                let mut leases = leases.lock().await;
                if let Some((owner, connection)) = leases.get_mut(name) {
                    if *owner != holder {
                        return Ok(false);
                    }
                    if connection.ping().await.is_ok() {
                        return Ok(true);
                    }
                    // The connection is gone, and the lock with it.
                    leases.remove(name);
                }
                let mut connection = pool
                    .acquire()
                    .await
                    .map_err(StoreError::database(&*action))?;
                let taken: bool = sqlx::query_scalar(LEASE_LOCK)
                    .bind(name)
                    .fetch_one(&mut *connection)
                    .await
                    .map_err(StoreError::database(&*action))?;
                if taken {
                    leases.insert(name.to_owned(), (holder, connection.detach()));
                }
                Ok(taken)
            }
        }
    }

    /// Gives up `holder`'s claim on `name`.
    pub(crate) async fn release(&self, name: &str, holder: Uuid) -> Result<(), StoreError> {
        let action = format!("release reader `{name}`");
        match &self.backend {
            Backend::Sqlite { pool, writer } => {
                let holder = crate::row::text(holder);
                let mut writer = writer.lock().await;
                if let Some(connection) = writer.as_mut() {
                    lease::release(connection, name, &holder, &action).await
                } else {
                    lease::release(pool, name, &holder, &action).await
                }
            }
            Backend::Postgres { leases, .. } => {
                let mut leases = leases.lock().await;
                if leases.get(name).is_some_and(|(owner, _)| *owner == holder) {
                    if let Some((_, connection)) = leases.remove(name) {
                        // Closing the session releases its advisory lock.
                        connection
                            .close()
                            .await
                            .map_err(StoreError::database(action))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The last snapshot of `stream`: its version and its state as JSON.
    pub(crate) async fn read_snapshot(
        &self,
        stream: &str,
    ) -> Result<Option<(u64, String)>, StoreError> {
        let action = format!("read the snapshot of stream `{stream}`");
        let snapshot = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlite::read_snapshot(pool, stream, &action).await?,
            Backend::Postgres { pool, .. } => {
                postgres::read_snapshot(pool, stream, &action).await?
            }
        };
        Ok(snapshot.map(|(version, state)| (u64::try_from(version).unwrap_or_default(), state)))
    }

    /// A live tail of the whole log: every event after position `after`
    /// (0 for the start), in position order, then each one appended later,
    /// as [`Tail::next`] is awaited.
    ///
    /// It never skips a committed event and never yields one twice, even
    /// while appends commit out of order: every append first takes the
    /// log's one write lock (`BEGIN IMMEDIATE` on SQLite; on PostgreSQL a
    /// transaction-scoped advisory lock for the schema, taken before the
    /// positions are drawn), so positions become visible in order. At the
    /// end of the log the tail waits for an append through this store (or
    /// a clone), on PostgreSQL also for the `NOTIFY` every append sends
    /// (a wake-up only: the positions decide what is read), and looks
    /// again every [`Tail::poll_every`] in any case.
    #[must_use]
    pub fn subscribe_all(&self, after: u64) -> Tail {
        Tail {
            store: self.clone(),
            after,
            read: VecDeque::new(),
            poll: DEFAULT_POLL,
            listener: None,
        }
    }

    /// The events of `stream` from version `from_version` on (1, or 0, for
    /// all of them), in version order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database fails,
    /// [`StoreError::Corrupt`] for a row that is not a record.
    pub async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let read = Read::Stream {
            stream,
            from_version: i64::try_from(from_version).unwrap_or(i64::MAX),
        };
        let action = format!("read stream `{stream}` from version {from_version}");
        self.read(read, &action).await
    }

    /// Up to `limit` events after position `after` (0 for the start), in
    /// position order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database fails,
    /// [`StoreError::Corrupt`] for a row that is not a record.
    pub async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let read = Read::All {
            after: i64::try_from(after).unwrap_or(i64::MAX),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        let action = format!("read the log after position {after}");
        self.read(read, &action).await
    }

    /// The event whose id is `id`, if it is in the log.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when the database fails,
    /// [`StoreError::Corrupt`] for a row that is not a record.
    pub async fn read_event(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let id = crate::row::text(id);
        let action = format!("read event {id}");
        let mut found = self.read(Read::Event { id: &id }, &action).await?;
        Ok(found.pop())
    }

    async fn read(&self, read: Read<'_>, action: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite { pool, .. } => sqlite::read(pool, read, action).await?,
            Backend::Postgres { pool, .. } => postgres::read(pool, read, action).await?,
        };
        rows.into_iter().map(ReadRow::into_stored).collect()
    }
}

/// How often a tail at the end of the log looks for appends by other
/// processes, by default.
const DEFAULT_POLL: Duration = Duration::from_millis(100);

/// How many events a tail reads at a time.
const TAIL_BATCH: usize = 500;

/// A live tail of the log, from [`Store::subscribe_all`].
#[derive(Debug)]
pub struct Tail {
    store: Store,
    /// The position of the last event yielded (or the one it started
    /// after).
    after: u64,
    /// Read, not yet yielded.
    read: VecDeque<StoredEvent>,
    poll: Duration,
    /// On PostgreSQL, a connection listening for the appends' `NOTIFY`:
    /// made at the first wait, dropped (and made again) if it fails.
    listener: Option<PgListener>,
}

impl Tail {
    /// Looks for appends by other processes this often while at the end
    /// of the log (100 ms by default).
    #[must_use]
    pub fn poll_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The position of the last event yielded: resume a tail there with
    /// [`Store::subscribe_all`].
    #[must_use]
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next event of the log, waiting at its end for one to be
    /// appended.
    ///
    /// # Errors
    ///
    /// As [`Store::read_all`]; the tail stays where it was, and the next
    /// call reads again from there.
    pub async fn next(&mut self) -> Result<StoredEvent, StoreError> {
        loop {
            if let Some(event) = self.read.pop_front() {
                self.after = event.position;
                return Ok(event);
            }
            // Registered before the read: an append that commits after it
            // wakes this tail.
            let appended = self.store.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let page = self.store.read_all(self.after, TAIL_BATCH).await?;
            if !page.is_empty() {
                self.read.extend(page);
                continue;
            }
            if let Backend::Postgres { pool, .. } = &self.store.backend {
                if self.listener.is_none() {
                    // Without a listener the tail still polls; a new one
                    // may have missed a commit since the read: read again.
                    self.listener = listen(pool).await;
                    if self.listener.is_some() {
                        continue;
                    }
                }
            }
            match &mut self.listener {
                Some(listener) => {
                    tokio::select! {
                        () = appended => {}
                        heard = listener.recv() => {
                            if heard.is_err() {
                                self.listener = None;
                            }
                        }
                        () = tokio::time::sleep(self.poll) => {}
                    }
                }
                None => drop(tokio::time::timeout(self.poll, appended).await),
            }
        }
    }
}

/// The channel every append on PostgreSQL notifies, with the schema as
/// the payload, when it commits.
pub(crate) const CHANNEL: &str = "eventbus_events";

/// A connection listening on [`CHANNEL`]; `None` if it cannot be made.
async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHANNEL).await.ok()?;
    Some(listener)
}

/// `url` with its password hidden, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
