//! Durable deliveries: the table `eventbus_webhook_deliveries` in the
//! event log's database, one row per webhook still to deliver, and the
//! scheduler that claims the rows that are due, tries them and writes
//! back what became of each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use eventbus_core::{BoxError, EventRecord, SendOutcome, SinkHandle};
use eventbus_store::{Store, StorePool};
use sqlx::Row as _;
use time::OffsetDateTime;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::client::Tried;
use crate::live::{lock, Live, Message};
use crate::sink::{disabled_why, Inner};

/// How often the scheduler looks for rows other processes wrote, or that
/// fell due, when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// How much longer than a try's timeout a claim lasts: a process that
/// dies mid-try leaves the row to be tried again after that.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// The table's key in PostgreSQL's advisory locks, held while it is
/// created.
const CREATE_LOCK: i64 = 1_702_257_155;

const SQLITE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS eventbus_webhook_deliveries (
    event_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_status INTEGER NULL,
    PRIMARY KEY (event_id, endpoint)
);
CREATE INDEX IF NOT EXISTS eventbus_webhook_deliveries_due
    ON eventbus_webhook_deliveries (next_attempt_at);
";

const POSTGRES_TABLE: &str = "
SELECT pg_advisory_xact_lock(1702257155);
CREATE TABLE IF NOT EXISTS eventbus_webhook_deliveries (
    event_id UUID NOT NULL,
    endpoint TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status INTEGER NULL,
    PRIMARY KEY (event_id, endpoint)
);
CREATE INDEX IF NOT EXISTS eventbus_webhook_deliveries_due
    ON eventbus_webhook_deliveries (next_attempt_at);
";

/// The durable half of a [`WebhookSink`](crate::WebhookSink).
pub(crate) struct Durable {
    store: Store,
    ready: tokio::sync::OnceCell<()>,
    /// New rows, a new endpoint, a closing sink: the scheduler looks now.
    wake: Arc<Notify>,
    in_flight: AtomicUsize,
    tries: Mutex<HashMap<u64, AbortHandle>>,
    next_try: AtomicU64,
}

/// A claimed row.
struct Due {
    event_id: Uuid,
    endpoint: String,
    attempts: u32,
    /// The `next_attempt_at` the claim wrote: the row is still this
    /// claim's while it reads so (another process that claims it after
    /// the claim ran out writes its own).
    claim: String,
}

impl Durable {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            ready: tokio::sync::OnceCell::new(),
            wake: Arc::new(Notify::new()),
            in_flight: AtomicUsize::new(0),
            tries: Mutex::new(HashMap::new()),
            next_try: AtomicU64::new(0),
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Creates the table once.
    async fn ready(&self) -> Result<(), sqlx::Error> {
        self.ready
            .get_or_try_init(|| async {
                match self.store.pool() {
                    StorePool::Sqlite(pool) => {
                        sqlx::raw_sql(SQLITE_TABLE).execute(pool).await?;
                    }
                    StorePool::Postgres(pool) => {
                        debug_assert!(POSTGRES_TABLE.contains(&CREATE_LOCK.to_string()));
                        sqlx::raw_sql(POSTGRES_TABLE).execute(pool).await?;
                    }
                    _ => unreachable!("the store has no other database"),
                }
                Ok(())
            })
            .await
            .copied()
    }

    /// Moves each record's deliveries into the table: sent, as far as
    /// the bus is concerned, once they are there.
    pub(crate) async fn take(
        &self,
        inner: &Inner,
        records: &[Arc<EventRecord>],
    ) -> Vec<SendOutcome> {
        if !inner.handle.get().is_some_and(SinkHandle::journaled) {
            let why = "a durable WebhookSink reads each record back from the event log, and \
                       this bus has none: give the bus the sink's store as its journal \
                       (`Bus::builder().journal(store.clone())`)";
            return records
                .iter()
                .map(|_| SendOutcome::Failed(why.into()))
                .collect();
        }
        let mut rows: Vec<(String, String)> = Vec::new();
        let live = inner.live();
        for record in records {
            let (targets, disabled) = Inner::targets(&live, record);
            for live in disabled {
                inner.give_up(&live, record, &disabled_why(&live), 0);
            }
            let id = record.envelope.id.hyphenated().to_string();
            rows.extend(
                targets
                    .into_iter()
                    .map(|live| (id.clone(), live.url.clone())),
            );
        }
        if !rows.is_empty() {
            let first = inner.settings.schedule.before(1).unwrap_or_default();
            if let Err(error) = self.insert(&rows, first).await {
                let why = format!("the webhook deliveries could not be stored: {error}");
                return records
                    .iter()
                    .map(|_| SendOutcome::Retry(why.clone().into()))
                    .collect();
            }
            self.wake();
        }
        records.iter().map(|_| SendOutcome::Sent).collect()
    }

    async fn insert(&self, rows: &[(String, String)], first: Duration) -> Result<(), sqlx::Error> {
        self.ready().await?;
        let now = stamp(SystemTime::now() + first);
        match self.store.pool() {
            StorePool::Sqlite(pool) => {
                let mut transaction = pool.begin().await?;
                for chunk in rows.chunks(200) {
                    let values = vec!["(?, ?, 0, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO eventbus_webhook_deliveries \
                         (event_id, endpoint, attempts, next_attempt_at) VALUES {values} \
                         ON CONFLICT DO NOTHING"
                    );
                    let mut query = sqlx::query(&sql);
                    for (id, endpoint) in chunk {
                        query = query.bind(id).bind(endpoint).bind(&now);
                    }
                    query.execute(&mut *transaction).await?;
                }
                transaction.commit().await?;
            }
            StorePool::Postgres(pool) => {
                let (ids, endpoints): (Vec<&str>, Vec<&str>) = rows
                    .iter()
                    .map(|(id, endpoint)| (id.as_str(), endpoint.as_str()))
                    .unzip();
                sqlx::query(
                    "INSERT INTO eventbus_webhook_deliveries \
                     (event_id, endpoint, attempts, next_attempt_at) \
                     SELECT id::uuid, endpoint, 0, $3::timestamptz \
                     FROM unnest($1::text[], $2::text[]) AS rows (id, endpoint) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(ids)
                .bind(endpoints)
                .bind(&now)
                .execute(pool)
                .await?;
            }
            _ => unreachable!("the store has no other database"),
        }
        Ok(())
    }

    /// Claims up to `limit` due rows of `endpoint` until the claim runs
    /// out `lasts` from now.
    async fn claim(
        &self,
        endpoint: &str,
        limit: usize,
        lasts: Duration,
    ) -> Result<Vec<Due>, sqlx::Error> {
        self.ready().await?;
        let now = SystemTime::now();
        let until = stamp(now + lasts);
        let now = stamp(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match self.store.pool() {
            StorePool::Sqlite(pool) => {
                let rows = sqlx::query(
                    "UPDATE eventbus_webhook_deliveries SET next_attempt_at = ? \
                     WHERE rowid IN (SELECT rowid FROM eventbus_webhook_deliveries \
                     WHERE endpoint = ? AND next_attempt_at <= ? \
                     ORDER BY next_attempt_at LIMIT ?) \
                     RETURNING event_id, attempts",
                )
                .bind(&until)
                .bind(endpoint)
                .bind(&now)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<Vec<(String, i64)>, sqlx::Error>>()?
            }
            StorePool::Postgres(pool) => {
                let rows = sqlx::query(
                    "UPDATE eventbus_webhook_deliveries AS d SET next_attempt_at = $1::timestamptz \
                     FROM (SELECT event_id FROM eventbus_webhook_deliveries \
                     WHERE endpoint = $2 AND next_attempt_at <= $3::timestamptz \
                     ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) AS due \
                     WHERE d.event_id = due.event_id AND d.endpoint = $2 \
                     RETURNING d.event_id::text, d.attempts::bigint",
                )
                .bind(&until)
                .bind(endpoint)
                .bind(&now)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<Vec<(String, i64)>, sqlx::Error>>()?
            }
            _ => unreachable!("the store has no other database"),
        };
        Ok(rows
            .into_iter()
            .filter_map(|(id, attempts)| {
                Some(Due {
                    event_id: id.parse().ok()?,
                    endpoint: endpoint.to_owned(),
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    claim: until.clone(),
                })
            })
            .collect())
    }

    /// When the next row of `endpoints` falls due, if any is waiting.
    async fn next_due(&self, endpoints: &[String]) -> Result<Option<SystemTime>, sqlx::Error> {
        let text: Option<String> = match self.store.pool() {
            StorePool::Sqlite(pool) => {
                let marks = vec!["?"; endpoints.len()].join(", ");
                let sql = format!(
                    "SELECT MIN(next_attempt_at) FROM eventbus_webhook_deliveries \
                     WHERE endpoint IN ({marks})"
                );
                let mut query = sqlx::query_scalar(&sql);
                for endpoint in endpoints {
                    query = query.bind(endpoint);
                }
                query.fetch_one(pool).await?
            }
            StorePool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT to_char(MIN(next_attempt_at) AT TIME ZONE 'UTC', \
                     'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                     FROM eventbus_webhook_deliveries WHERE endpoint = ANY($1)",
                )
                .bind(endpoints)
                .fetch_one(pool)
                .await?
            }
            _ => unreachable!("the store has no other database"),
        };
        Ok(text.and_then(|text| {
            OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(SystemTime::from)
        }))
    }

    /// How many rows of `endpoints` wait.
    async fn waiting(&self, endpoints: &[String]) -> Result<i64, sqlx::Error> {
        self.ready().await?;
        match self.store.pool() {
            StorePool::Sqlite(pool) => {
                let marks = vec!["?"; endpoints.len()].join(", ");
                let sql = format!(
                    "SELECT COUNT(*) FROM eventbus_webhook_deliveries WHERE endpoint IN ({marks})"
                );
                let mut query = sqlx::query_scalar(&sql);
                for endpoint in endpoints {
                    query = query.bind(endpoint);
                }
                query.fetch_one(pool).await
            }
            StorePool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM eventbus_webhook_deliveries WHERE endpoint = ANY($1)",
                )
                .bind(endpoints)
                .fetch_one(pool)
                .await
            }
            _ => unreachable!("the store has no other database"),
        }
    }

    /// The row is done with: delivered, or failed for good.
    async fn remove(&self, due: &Due) -> Result<(), sqlx::Error> {
        let id = due.event_id.hyphenated().to_string();
        match self.store.pool() {
            StorePool::Sqlite(pool) => {
                sqlx::query(
                    "DELETE FROM eventbus_webhook_deliveries \
                     WHERE event_id = ? AND endpoint = ? AND next_attempt_at = ?",
                )
                .bind(id)
                .bind(&due.endpoint)
                .bind(&due.claim)
                .execute(pool)
                .await?;
            }
            StorePool::Postgres(pool) => {
                sqlx::query(
                    "DELETE FROM eventbus_webhook_deliveries \
                     WHERE event_id = $1::uuid AND endpoint = $2 \
                     AND next_attempt_at = $3::timestamptz",
                )
                .bind(id)
                .bind(&due.endpoint)
                .bind(&due.claim)
                .execute(pool)
                .await?;
            }
            _ => unreachable!("the store has no other database"),
        }
        Ok(())
    }

    /// The row is to be tried again at `at`.
    async fn reschedule(
        &self,
        due: &Due,
        attempts: u32,
        at: SystemTime,
        status: Option<u16>,
    ) -> Result<(), sqlx::Error> {
        let id = due.event_id.hyphenated().to_string();
        let at = stamp(at);
        let attempts = i64::from(attempts);
        let status = status.map(i64::from);
        match self.store.pool() {
            StorePool::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE eventbus_webhook_deliveries \
                     SET attempts = ?, next_attempt_at = ?, last_status = ? \
                     WHERE event_id = ? AND endpoint = ? AND next_attempt_at = ?",
                )
                .bind(attempts)
                .bind(at)
                .bind(status)
                .bind(id)
                .bind(&due.endpoint)
                .bind(&due.claim)
                .execute(pool)
                .await?;
            }
            StorePool::Postgres(pool) => {
                sqlx::query(
                    "UPDATE eventbus_webhook_deliveries \
                     SET attempts = $1, next_attempt_at = $2::timestamptz, last_status = $3 \
                     WHERE event_id = $4::uuid AND endpoint = $5 \
                     AND next_attempt_at = $6::timestamptz",
                )
                .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
                .bind(at)
                .bind(status.map(|status| i32::try_from(status).unwrap_or(0)))
                .bind(id)
                .bind(&due.endpoint)
                .bind(&due.claim)
                .execute(pool)
                .await?;
            }
            _ => unreachable!("the store has no other database"),
        }
        Ok(())
    }

    /// How many rows of registered endpoints wait.
    pub(crate) async fn pending(&self, inner: &Inner) -> Result<u64, sqlx::Error> {
        let endpoints: Vec<String> = inner.live().iter().map(|live| live.url.clone()).collect();
        if endpoints.is_empty() {
            return Ok(0);
        }
        Ok(u64::try_from(self.waiting(&endpoints).await?).unwrap_or(0))
    }

    /// Stops the scheduler; lets the tries under way finish until
    /// `deadline`, then stops them too: their rows stay, to be tried
    /// again when their claim runs out (a webhook cut off in the middle
    /// may so arrive twice, under the same `webhook-id`).
    pub(crate) async fn close(&self, deadline: Instant) {
        self.wake.notify_one();
        let deadline = tokio::time::Instant::from_std(deadline);
        while self.in_flight.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout_at(deadline, tokio::time::sleep(Duration::from_millis(5)))
                .await;
        }
        for (_, task) in lock(&self.tries).drain() {
            task.abort();
        }
    }
}

/// The scheduler: claims what is due for each endpoint, as many rows as
/// the endpoint has tries free (so a claim never waits for a try, and a
/// slow endpoint holds back no other), tries them, sleeps until the next
/// is due or it is woken; until the sink closes or is dropped.
pub(crate) async fn schedule(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if strong.closed.load(Ordering::Acquire) {
            return;
        }
        let Some(durable) = strong.durable.as_ref() else {
            return;
        };
        let wake = Arc::clone(&durable.wake);
        let woken = wake.notified();
        let lasts = strong.settings.timeout + CLAIM_MARGIN;
        let endpoints = strong.live();
        let mut nap = POLL;
        for live in &endpoints {
            let free = live.permits.available_permits();
            if free == 0 {
                continue;
            }
            match durable.claim(&live.url, free, lasts).await {
                Ok(claimed) => {
                    if claimed.len() == free {
                        // More may be due: look again once tries end.
                        nap = nap.min(Duration::from_millis(1));
                    }
                    for due in claimed {
                        let Ok(permit) = Arc::clone(&live.permits).try_acquire_owned() else {
                            break;
                        };
                        start_try(&strong, Arc::clone(live), due, permit);
                    }
                }
                Err(error) => tracing::error!(
                    target: "eventbus",
                    endpoint = live.url,
                    "the webhook scheduler could not claim deliveries: {error}"
                ),
            }
        }
        if nap == POLL && !endpoints.is_empty() {
            let urls: Vec<String> = endpoints.iter().map(|live| live.url.clone()).collect();
            if let Ok(Some(at)) = durable.next_due(&urls).await {
                nap = nap.min(at.duration_since(SystemTime::now()).unwrap_or_default());
            }
        }
        drop(endpoints);
        drop(strong);
        let _ = tokio::time::timeout(nap, woken).await;
    }
}

fn start_try(inner: &Arc<Inner>, live: Arc<Live>, due: Due, permit: OwnedSemaphorePermit) {
    let Some(durable) = inner.durable.as_ref() else {
        return;
    };
    durable.in_flight.fetch_add(1, Ordering::AcqRel);
    let key = durable.next_try.fetch_add(1, Ordering::Relaxed);
    let mut tries = lock(&durable.tries);
    let task = tokio::spawn(try_due(Arc::clone(inner), live, due, key, permit));
    tries.insert(key, task.abort_handle());
}

/// Tries one claimed row and writes back what became of it.
async fn try_due(
    inner: Arc<Inner>,
    live: Arc<Live>,
    due: Due,
    key: u64,
    permit: OwnedSemaphorePermit,
) {
    let durable = inner.durable.as_ref().expect("a durable sink");
    if let Err(error) = try_row(&inner, durable, &live, &due).await {
        tracing::error!(
            target: "eventbus",
            event_id = %due.event_id,
            endpoint = due.endpoint,
            "the webhook delivery could not be written back (it is tried again when its claim \
             runs out): {error}"
        );
    }
    drop(permit);
    lock(&durable.tries).remove(&key);
    durable.in_flight.fetch_sub(1, Ordering::AcqRel);
    durable.wake();
}

async fn try_row(inner: &Inner, durable: &Durable, live: &Live, due: &Due) -> Result<(), BoxError> {
    let Some(stored) = durable.store.read_event(due.event_id).await? else {
        tracing::error!(
            target: "eventbus",
            event_id = %due.event_id,
            endpoint = due.endpoint,
            "a webhook delivery names an event the log does not hold (give the bus the \
             sink's store as its journal); it is dropped"
        );
        durable.remove(due).await?;
        return Ok(());
    };
    let record = Arc::new(stored.record);
    let message = Message::new(Arc::clone(&record), 1);
    let was_retrying = due.attempts > 0;
    let finish = |delivered: bool| {
        if was_retrying {
            live.retrying(false);
        }
        if delivered {
            live.count_sent();
        }
    };
    if live.disabled().is_some() {
        inner.give_up(live, &record, &disabled_why(live), due.attempts);
        durable.remove(due).await?;
        finish(false);
        return Ok(());
    }
    let endpoint = live.endpoint();
    let tried = inner
        .client
        .try_once(
            &endpoint,
            &message.id,
            message.body(endpoint.format),
            inner.settings.timeout,
        )
        .await;
    let attempts = due.attempts + 1;
    let why = match tried {
        Tried::Delivered => {
            durable.remove(due).await?;
            finish(true);
            return Ok(());
        }
        Tried::Retry { status, why, after } => {
            if let Some(wait) = inner.settings.schedule.wait(attempts + 1, after) {
                durable
                    .reschedule(due, attempts, SystemTime::now() + wait, status)
                    .await?;
                if !was_retrying {
                    live.retrying(true);
                }
                return Ok(());
            }
            why
        }
        Tried::Gone { why } => {
            live.disable(format!("it answered 410 Gone to event {}", message.id));
            why
        }
        Tried::Refused { why } => why,
    };
    // Reported before the row goes, so that whoever sees the table empty
    // finds the dead letter.
    finish(false);
    inner.give_up(live, &record, &why, attempts);
    durable.remove(due).await?;
    Ok(())
}

/// `at` as the table keeps it: RFC 3339 in UTC with microseconds, a fixed
/// width, so SQLite compares it as text.
fn stamp(at: SystemTime) -> String {
    let format = time::format_description::parse_borrowed::<1>(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
    )
    .expect("the format is valid");
    OffsetDateTime::from(at)
        .format(&format)
        .expect("a time near now formats")
}
