//! The registered endpoints at work ([`Live`]): their settings, patterns,
//! concurrency permits, counters and whether they are disabled; and a
//! record on its way to them ([`Message`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use eventbus_core::{EventRecord, SinkHandle};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::endpoint::{Endpoint, EndpointStats, Pattern, WebhookFormat};

/// One registered endpoint.
pub(crate) struct Live {
    pub(crate) url: String,
    /// Its settings, replaced whole when it is registered again.
    endpoint: Mutex<Arc<Endpoint>>,
    patterns: Mutex<Vec<Pattern>>,
    /// Durable tries under way at once, at most (in memory, the lane's
    /// workers are as many).
    #[cfg(feature = "store")]
    pub(crate) permits: Arc<Semaphore>,
    /// Room for the webhooks it holds in memory: one permit per webhook
    /// held, the sink's backlog in all.
    room: Arc<Semaphore>,
    backlog: usize,
    /// Woken when it starts failing: a wait for room gives up.
    failing: Notify,
    sent: AtomicU64,
    failed: AtomicU64,
    retrying: AtomicU64,
    disabled: Mutex<Option<String>>,
    /// In memory: its queue and workers, started with its first webhook.
    pub(crate) lane: OnceLock<crate::memory::Lane>,
}

impl Live {
    pub(crate) fn new(
        endpoint: Endpoint,
        pattern: Pattern,
        concurrency: usize,
        backlog: usize,
    ) -> Self {
        let _ = concurrency;
        Self {
            url: endpoint.url.clone(),
            endpoint: Mutex::new(Arc::new(endpoint)),
            patterns: Mutex::new(vec![pattern]),
            #[cfg(feature = "store")]
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            room: Arc::new(Semaphore::new(backlog.max(1))),
            backlog: backlog.max(1),
            failing: Notify::new(),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retrying: AtomicU64::new(0),
            disabled: Mutex::new(None),
            lane: OnceLock::new(),
        }
    }

    /// Registers it again for `pattern`; an `endpoint` with settings of
    /// its own replaces the old ones. Enables it.
    pub(crate) fn again(&self, endpoint: Endpoint, pattern: Pattern) {
        if endpoint.configured {
            *lock(&self.endpoint) = Arc::new(endpoint);
        }
        let mut patterns = lock(&self.patterns);
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
        drop(patterns);
        *lock(&self.disabled) = None;
    }

    /// Drops `pattern`; whether any is left.
    pub(crate) fn forget(&self, pattern: &Pattern) -> (bool, bool) {
        let mut patterns = lock(&self.patterns);
        let before = patterns.len();
        patterns.retain(|own| own != pattern);
        (patterns.len() < before, !patterns.is_empty())
    }

    /// Room for one more webhook, waiting for it while the endpoint is
    /// healthy (no webhook waits for a retry, not disabled). `Err` with
    /// how many it holds when it is full and failing: then a wait could
    /// last hours, and would hold back every other endpoint.
    pub(crate) async fn hold(&self) -> Result<OwnedSemaphorePermit, usize> {
        if let Ok(permit) = Arc::clone(&self.room).try_acquire_owned() {
            return Ok(permit);
        }
        loop {
            let failing = self.failing.notified();
            let mut failing = std::pin::pin!(failing);
            failing.as_mut().enable();
            if self.retrying.load(Ordering::Acquire) > 0 || self.disabled().is_some() {
                return Err(self.backlog - self.room.available_permits());
            }
            tokio::select! {
                permit = Arc::clone(&self.room).acquire_owned() => {
                    return Ok(permit.expect("the room is never closed"));
                }
                () = &mut failing => {}
            }
        }
    }

    pub(crate) fn endpoint(&self) -> Arc<Endpoint> {
        Arc::clone(&lock(&self.endpoint))
    }

    pub(crate) fn wants(&self, name: &str) -> bool {
        lock(&self.patterns)
            .iter()
            .any(|pattern| pattern.matches(name))
    }

    pub(crate) fn disabled(&self) -> Option<String> {
        lock(&self.disabled).clone()
    }

    pub(crate) fn disable(&self, why: String) {
        lock(&self.disabled).get_or_insert(why);
        // A `hold` waiting for room gives up now.
        self.failing.notify_waiters();
    }

    pub(crate) fn count_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retrying(&self, more: bool) {
        if more {
            self.retrying.fetch_add(1, Ordering::AcqRel);
            // A `hold` waiting for room gives up now: the endpoint fails.
            self.failing.notify_waiters();
        } else {
            // Durable deliveries rescheduled by an earlier process finish
            // here without having been counted.
            let _ = self
                .retrying
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                    now.checked_sub(1)
                });
        }
    }

    pub(crate) fn stats(&self) -> EndpointStats {
        EndpointStats {
            url: self.url.clone(),
            patterns: lock(&self.patterns).iter().map(Pattern::as_text).collect(),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retrying: self.retrying.load(Ordering::Relaxed),
            disabled: self.disabled(),
        }
    }
}

/// A record on its way to its endpoints: its bodies, written once per
/// format, and how many endpoints have yet to settle it.
pub(crate) struct Message {
    pub(crate) record: Arc<EventRecord>,
    pub(crate) id: String,
    record_body: OnceLock<Bytes>,
    standard_body: OnceLock<Bytes>,
    /// Endpoints still to deliver it (in memory), plus one while the
    /// sink's `send` is still taking it: when the last is done, the
    /// record is settled with the bus.
    remaining: AtomicUsize,
    failed: AtomicBool,
    /// The bus stopped the `send` that was taking it, and counted it as
    /// abandoned itself: it is never settled, nor reported, here.
    orphaned: AtomicBool,
}

impl Message {
    pub(crate) fn new(record: Arc<EventRecord>, endpoints: usize) -> Self {
        Self {
            id: record.envelope.id.to_string(),
            record,
            record_body: OnceLock::new(),
            standard_body: OnceLock::new(),
            remaining: AtomicUsize::new(endpoints + 1),
            failed: AtomicBool::new(false),
            orphaned: AtomicBool::new(false),
        }
    }

    /// The sink's `send` has taken it: once every endpoint is done, it is
    /// settled with the bus.
    pub(crate) fn taken(&self, handle: Option<&SinkHandle>) {
        self.finish_one(handle);
    }

    /// The bus dropped the `send` that was taking it.
    pub(crate) fn orphan(&self) {
        self.orphaned.store(true, Ordering::Release);
    }

    /// Whether the bus counted it as abandoned already.
    pub(crate) fn is_orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Acquire)
    }

    /// The body in `format`.
    pub(crate) fn body(&self, format: WebhookFormat) -> Bytes {
        match format {
            WebhookFormat::Record => self
                .record_body
                .get_or_init(|| Bytes::from(self.record.to_json()))
                .clone(),
            WebhookFormat::Standard => self
                .standard_body
                .get_or_init(|| standard_body(&self.record))
                .clone(),
        }
    }

    /// One endpoint is done with it; the last settles it with the bus:
    /// sent when every endpoint took it.
    pub(crate) fn done(&self, delivered: bool, handle: Option<&SinkHandle>) {
        if !delivered {
            self.failed.store(true, Ordering::Release);
        }
        self.finish_one(handle);
    }

    fn finish_one(&self, handle: Option<&SinkHandle>) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 || self.is_orphaned() {
            return;
        }
        if let Some(handle) = handle {
            if self.failed.load(Ordering::Acquire) {
                handle.settle_failed();
            } else {
                handle.settle_sent();
            }
        }
    }
}

/// `{"type": name, "timestamp": "<RFC 3339>", "data": <event JSON>}`.
fn standard_body(record: &EventRecord) -> Bytes {
    // As the record's own JSON writes it.
    let timestamp = record
        .envelope
        .timestamp_rfc3339()
        .map_or_else(|| "null".to_owned(), |at| format!("\"{at}\""));
    let payload = record.payload_str().unwrap_or("null");
    let mut body = String::with_capacity(payload.len() + 96);
    body.push_str("{\"type\":");
    body.push_str(&serde_json::to_string(&*record.name).expect("a name is JSON"));
    body.push_str(",\"timestamp\":");
    body.push_str(&timestamp);
    body.push_str(",\"data\":");
    body.push_str(payload);
    body.push('}');
    Bytes::from(body)
}

/// A lock that a panicking holder did not leave unusable: every value
/// behind these locks is whole between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
