//! [`Journal`]: the durable log a bus can append every accepted event to
//! and read back from, and [`MemoryJournal`], one in memory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::envelope::Uuid;
use crate::handler::BoxError;
use crate::layer::BoxFuture;
use crate::record::EventRecord;

/// A durable, ordered log of event records, with named checkpoints for
/// the relays that read it. [`MemoryJournal`] keeps one in memory; any
/// log that implements this trait can be one.
pub trait Journal: Send + Sync + 'static {
    /// Appends `entries` in one transaction, in order; returns the
    /// position of each, in the same order. Positions grow by one per
    /// record across the whole log, starting at 1. An entry whose event
    /// id is already in the log is not appended again: its stored
    /// position is returned.
    fn append<'a>(
        &'a self,
        entries: &'a [JournalEntry],
    ) -> BoxFuture<'a, Result<Vec<u64>, BoxError>>;

    /// Up to `limit` records after position `after` (0 for the start), in
    /// position order.
    fn read_after(&self, after: u64, limit: usize) -> BoxFuture<'_, Result<Vec<Logged>, BoxError>>;

    /// The position the relay named `relay` has handled up to; 0 if it
    /// has saved none.
    fn checkpoint<'a>(&'a self, relay: &'a str) -> BoxFuture<'a, Result<u64, BoxError>>;

    /// Saves `position` as the one the relay named `relay` has handled up
    /// to, unless it has saved a later one: a checkpoint never moves back
    /// (a relay that lost its claim partway through a batch cannot undo
    /// the new holder's progress).
    fn save_checkpoint<'a>(
        &'a self,
        relay: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Claims the reader named `name` (a relay, a projection) for
    /// `holder` until `ttl` from now, or renews the claim; returns whether
    /// `holder` holds it. One holder per name at a time, across every
    /// process on the log: the others wait, and take over once the holder
    /// releases it, or stops renewing it and `ttl` runs out (a crashed
    /// process). The default, for a log only one process uses, always
    /// holds.
    fn hold<'a>(
        &'a self,
        name: &'a str,
        holder: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        let _ = (name, holder, ttl);
        Box::pin(async { Ok(true) })
    }

    /// Gives up `holder`'s claim on `name`, if it has one.
    fn release<'a>(&'a self, name: &'a str, holder: Uuid) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (name, holder);
        Box::pin(async { Ok(()) })
    }
}

/// One record to append, with its stream and whether its handlers have
/// already run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalEntry {
    /// The stream the record belongs to: the event's name unless the
    /// publisher named one.
    pub stream: Cow<'static, str>,
    /// The record.
    pub record: Arc<EventRecord>,
    /// `true` when the bus ran its handlers as it accepted it (`publish`,
    /// `deliver`); `false` when a relay is to hand it to them (`emit`).
    pub handled: bool,
}

impl JournalEntry {
    /// An entry of `record` in `stream`.
    #[must_use]
    pub fn new(
        stream: impl Into<Cow<'static, str>>,
        record: Arc<EventRecord>,
        handled: bool,
    ) -> Self {
        Self {
            stream: stream.into(),
            record,
            handled,
        }
    }
}

/// A record read back from a [`Journal`], with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Logged {
    /// Its position in the whole log.
    pub position: u64,
    /// Its stream.
    pub stream: String,
    /// The record, its envelope as it was appended.
    pub record: EventRecord,
    /// Whether its handlers ran when it was appended.
    pub handled: bool,
}

impl Logged {
    /// A record read back at `position`.
    #[must_use]
    pub fn new(
        position: u64,
        stream: impl Into<String>,
        record: EventRecord,
        handled: bool,
    ) -> Self {
        Self {
            position,
            stream: stream.into(),
            record,
            handled,
        }
    }
}

/// A [`Journal`] in memory: for tests, and for programs that want the
/// relays without a database. Cheap to clone; clones share one log.
///
/// ```
/// use std::sync::Arc;
///
/// use eventbus::{Envelope, EventRecord, Journal, JournalEntry, MemoryJournal};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let journal = MemoryJournal::new();
/// let record = Arc::new(EventRecord::new("doc.ping", 1, b"null".to_vec(), Envelope::generate()));
/// let entry = JournalEntry::new("doc.ping", Arc::clone(&record), true);
/// assert_eq!(journal.append(&[entry.clone()]).await.unwrap(), [1]);
/// // The same event again is not appended twice.
/// assert_eq!(journal.append(&[entry]).await.unwrap(), [1]);
/// let logged = journal.read_after(0, 10).await.unwrap();
/// assert_eq!((logged.len(), logged[0].record.envelope.id), (1, record.envelope.id));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryJournal {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    log: Mutex<Log>,
    /// When set, every append fails: to test what a failed commit does.
    failing: AtomicBool,
}

#[derive(Default)]
struct Log {
    entries: Vec<Logged>,
    checkpoints: HashMap<String, u64>,
    /// Who holds each reader's name, and until when.
    holders: HashMap<String, (Uuid, Instant)>,
}

impl MemoryJournal {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every append fail (`true`) or succeed again (`false`), as a
    /// database that went away would.
    pub fn fail_appends(&self, failing: bool) {
        self.inner.failing.store(failing, Ordering::Release);
    }

    /// Every record in the log, in position order.
    #[must_use]
    pub fn records(&self) -> Vec<Logged> {
        self.lock().entries.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Journal for MemoryJournal {
    fn append<'a>(
        &'a self,
        entries: &'a [JournalEntry],
    ) -> BoxFuture<'a, Result<Vec<u64>, BoxError>> {
        Box::pin(async move {
            if self.inner.failing.load(Ordering::Acquire) {
                return Err(
                    "the journal refused the append (`MemoryJournal::fail_appends`)".into(),
                );
            }
            let mut log = self.lock();
            let mut positions = Vec::with_capacity(entries.len());
            for entry in entries {
                let id = entry.record.envelope.id;
                if let Some(stored) = log
                    .entries
                    .iter()
                    .find(|logged| logged.record.envelope.id == id)
                {
                    positions.push(stored.position);
                    continue;
                }
                let position = log.entries.len() as u64 + 1;
                log.entries.push(Logged {
                    position,
                    stream: entry.stream.to_string(),
                    record: (*entry.record).clone(),
                    handled: entry.handled,
                });
                positions.push(position);
            }
            Ok(positions)
        })
    }

    fn read_after(&self, after: u64, limit: usize) -> BoxFuture<'_, Result<Vec<Logged>, BoxError>> {
        Box::pin(async move {
            let log = self.lock();
            let start = usize::try_from(after)
                .unwrap_or(usize::MAX)
                .min(log.entries.len());
            Ok(log.entries[start..].iter().take(limit).cloned().collect())
        })
    }

    fn checkpoint<'a>(&'a self, relay: &'a str) -> BoxFuture<'a, Result<u64, BoxError>> {
        Box::pin(async move { Ok(self.lock().checkpoints.get(relay).copied().unwrap_or(0)) })
    }

    fn save_checkpoint<'a>(
        &'a self,
        relay: &'a str,
        position: u64,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let mut log = self.lock();
            let saved = log.checkpoints.entry(relay.to_owned()).or_default();
            *saved = (*saved).max(position);
            Ok(())
        })
    }

    fn hold<'a>(
        &'a self,
        name: &'a str,
        holder: Uuid,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut log = self.lock();
            let held = log
                .holders
                .get(name)
                .is_some_and(|&(other, until)| other != holder && until > now);
            if !held {
                log.holders.insert(name.to_owned(), (holder, now + ttl));
            }
            Ok(!held)
        })
    }

    fn release<'a>(&'a self, name: &'a str, holder: Uuid) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let mut log = self.lock();
            if log
                .holders
                .get(name)
                .is_some_and(|&(other, _)| other == holder)
            {
                log.holders.remove(name);
            }
            Ok(())
        })
    }
}
