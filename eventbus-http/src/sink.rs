//! [`WebhookSink`]: the original's `WebhookBus` as a [`Sink`]: endpoints
//! registered at run time per event name or pattern, each webhook signed,
//! tried on a schedule, and its final failure in the dead letters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use eventbus_core::layer::BoxFuture;
use eventbus_core::{BoxError, EventRecord, SendOutcome, Sink, SinkHandle};
use tokio::task::AbortHandle;

use crate::client::{Client, Tried};
use crate::endpoint::{EndpointStats, IntoEndpoint, Pattern};
use crate::error::WebhookError;
use crate::live::{lock, Live, Message};
use crate::schedule::RetrySchedule;

/// How long a try may take by default, the answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many tries go to one endpoint at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How many webhooks one endpoint may hold in memory by default, waiting
/// or being tried; past that, more for it go to the dead letters.
pub const DEFAULT_BACKLOG: usize = 10_000;

/// Sends the records of accepted events as webhooks: the original
/// `WebhookBus`, signed (Standard Webhooks), retried, and reported.
///
/// Add it to a bus with [`BusBuilder::sink`](eventbus_core::BusBuilder::sink)
/// and keep a clone to [`register`](Self::register) endpoints at run
/// time. It wants every non-local event type and picks each record's
/// endpoints by their patterns when it sends.
///
/// Each endpoint gets each webhook on its own: tries run at most
/// [`concurrency`](WebhookSinkBuilder::concurrency) at a time per
/// endpoint, and a slow or dead endpoint holds back no other. A try that
/// meets a network error, a timeout, `408`, `429` or `5xx` is repeated on
/// the [`RetrySchedule`] (a `Retry-After` is honoured); `410 Gone`
/// disables the endpoint; any other answer is final. A webhook that
/// failed for good goes to the bus's dead letters and `on_error`, with the
/// endpoint, the status and the start of the answer.
///
/// In memory (the default) the bus counts a record as waiting until every
/// endpoint has it, so [`Bus::flush`](eventbus_core::Bus::flush) waits for
/// the deliveries, and what is still pending when a shutdown's
/// `shutdown_timeout` runs out goes to the dead letters as abandoned.
/// With a [store](WebhookSinkBuilder::store) the deliveries are rows of
/// `eventbus_webhook_deliveries` that outlive the process: the bus counts
/// a record as sent once its rows are written, `flush` and `shutdown`
/// wait for no more than that, and [`pending`](WebhookSink::pending)
/// counts the rows.
///
/// ```no_run
/// use eventbus_core::Bus;
/// use eventbus_http::{Endpoint, WebhookSink};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let webhooks = WebhookSink::new();
/// webhooks.register("order_placed", "https://example.com/hooks/orders")?;
/// webhooks.register(
///     "shop.*",
///     Endpoint::new("https://example.com/hooks/shop")?.secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?,
/// )?;
/// let bus = Bus::builder().sink("webhooks", webhooks.clone()).build()?;
/// # drop(bus);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WebhookSink {
    inner: Arc<Inner>,
}

/// What a [`WebhookSink`] and its deliveries share.
pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) client: Client,
    /// The registered endpoints, in registration order.
    endpoints: RwLock<Vec<Arc<Live>>>,
    /// Given by the bus when it starts the sink.
    pub(crate) handle: OnceLock<SinkHandle>,
    /// In memory: the deliveries under way, so a shutdown can abandon
    /// them. Whoever takes a delivery out of here settles it.
    pending: Mutex<HashMap<u64, Pending>>,
    next_key: AtomicU64,
    pub(crate) closed: AtomicBool,
    #[cfg(feature = "store")]
    pub(crate) durable: Option<crate::durable::Durable>,
}

/// A delivery under way in memory.
struct Pending {
    message: Arc<Message>,
    live: Arc<Live>,
    task: AbortHandle,
    /// Set while the delivery waits for its next try (and counts in its
    /// endpoint's `retrying`); whoever clears it uncounts it.
    waiting: Arc<AtomicBool>,
}

/// How a sink's webhooks are sent.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    pub(crate) schedule: RetrySchedule,
    pub(crate) concurrency: usize,
    pub(crate) backlog: usize,
}

/// Builds a [`WebhookSink`] with other than the default settings; from
/// [`WebhookSink::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WebhookSinkBuilder {
    settings: Settings,
    #[cfg(feature = "store")]
    store: Option<eventbus_store::Store>,
}

impl WebhookSinkBuilder {
    /// How long one try may take, the answer included (default 5 s); a
    /// try that takes longer is retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// When webhooks are tried (default [`RetrySchedule::default`],
    /// Svix's).
    pub fn retry_schedule(mut self, schedule: RetrySchedule) -> Self {
        self.settings.schedule = schedule;
        self
    }

    /// How many tries go to one endpoint at once (default 4, at least 1).
    pub fn concurrency(mut self, tries: usize) -> Self {
        self.settings.concurrency = tries.max(1);
        self
    }

    /// How many webhooks one endpoint may hold in memory, waiting or
    /// being tried (default 10,000); past that, more for it go to the
    /// dead letters at once. Not used with a store.
    pub fn backlog(mut self, webhooks: usize) -> Self {
        self.settings.backlog = webhooks;
        self
    }

    /// Keeps the deliveries in `store`'s database, in the table
    /// `eventbus_webhook_deliveries(event_id, endpoint, attempts,
    /// next_attempt_at, last_status)` (created when the sink starts):
    /// the sink moves each record's deliveries there and is done with the
    /// record; a scheduler sends what is due, in this process or,
    /// after a restart, in the next. Give the bus the same store as its
    /// journal, so the record is in the log (the scheduler reads it back
    /// from there) and nothing is lost between the two. Several
    /// processes may share the table: each delivery is claimed by one.
    ///
    /// Pending deliveries wait for their endpoint to be registered again
    /// after a restart (the table holds URLs, not secrets).
    #[cfg(feature = "store")]
    pub fn store(mut self, store: &eventbus_store::Store) -> Self {
        self.store = Some(store.clone());
        self
    }

    /// The sink.
    pub fn build(self) -> WebhookSink {
        WebhookSink {
            inner: Arc::new(Inner {
                #[cfg(feature = "store")]
                durable: self.store.map(crate::durable::Durable::new),
                settings: self.settings,
                client: Client::new(),
                endpoints: RwLock::new(Vec::new()),
                handle: OnceLock::new(),
                pending: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(0),
                closed: AtomicBool::new(false),
            }),
        }
    }
}

impl Default for WebhookSink {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("endpoints", &self.endpoints())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// A sink with the default settings: 5 s timeout, Svix's schedule, 4
    /// tries at once per endpoint, in memory.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for other settings.
    pub fn builder() -> WebhookSinkBuilder {
        WebhookSinkBuilder {
            settings: Settings {
                timeout: DEFAULT_TIMEOUT,
                schedule: RetrySchedule::default(),
                concurrency: DEFAULT_CONCURRENCY,
                backlog: DEFAULT_BACKLOG,
            },
            #[cfg(feature = "store")]
            store: None,
        }
    }

    /// Sends the webhooks of the events that `pattern` matches (an
    /// event's name, a prefix such as `shop.*`, or `*`) to `endpoint`
    /// from now on: a URL, or an [`Endpoint`](crate::Endpoint) with
    /// secrets and a body format. An endpoint is known by its URL:
    /// registering one URL for several patterns sends each webhook once,
    /// and registering an `Endpoint` that has secrets or a format
    /// replaces the URL's old ones (so rotating a key is registering the
    /// endpoint again with both secrets, then with the new one). It also
    /// enables an endpoint that was disabled.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Pattern`] or [`WebhookError::Url`] saying what is
    /// wrong and what to write.
    pub fn register(&self, pattern: &str, endpoint: impl IntoEndpoint) -> Result<(), WebhookError> {
        let pattern = Pattern::parse(pattern)?;
        let endpoint = endpoint.into_endpoint()?;
        let mut endpoints = self
            .inner
            .endpoints
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(live) = endpoints.iter().find(|live| live.url == endpoint.url) {
            live.again(endpoint, pattern);
        } else {
            let concurrency = self.inner.settings.concurrency;
            endpoints.push(Arc::new(Live::new(endpoint, pattern, concurrency)));
        }
        drop(endpoints);
        #[cfg(feature = "store")]
        if let Some(durable) = &self.inner.durable {
            durable.wake();
        }
        Ok(())
    }

    /// Stops sending the events of `pattern` to the endpoint at `url`;
    /// with no pattern left the endpoint is gone (what it was being sent
    /// in memory still finishes; durable deliveries wait in the table
    /// for it to be registered again). Whether it was registered so.
    pub fn unregister(&self, pattern: &str, url: &str) -> bool {
        let Ok(pattern) = Pattern::parse(pattern) else {
            return false;
        };
        let mut endpoints = self
            .inner
            .endpoints
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(at) = endpoints.iter().position(|live| live.url == url) else {
            return false;
        };
        let (removed, any_left) = endpoints[at].forget(&pattern);
        if !any_left {
            endpoints.remove(at);
        }
        removed
    }

    /// How many webhooks wait to be delivered: in memory, those being
    /// tried or waiting for their next try; with a store, the rows of
    /// `eventbus_webhook_deliveries` for the registered endpoints (in
    /// every process that shares the table).
    ///
    /// # Errors
    ///
    /// With a store, the database's error when it cannot be read.
    pub async fn pending(&self) -> Result<u64, BoxError> {
        #[cfg(feature = "store")]
        if let Some(durable) = &self.inner.durable {
            return Ok(durable.pending(&self.inner).await?);
        }
        Ok(lock(&self.inner.pending).len() as u64)
    }

    /// What became of each endpoint's webhooks, in registration order.
    #[must_use]
    pub fn endpoints(&self) -> Vec<EndpointStats> {
        self.inner.live().iter().map(|live| live.stats()).collect()
    }
}

impl Inner {
    /// The registered endpoints now.
    pub(crate) fn live(&self) -> Vec<Arc<Live>> {
        self.endpoints
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The registered endpoint at `url`.
    #[cfg(feature = "store")]
    pub(crate) fn find(&self, url: &str) -> Option<Arc<Live>> {
        self.endpoints
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|live| live.url == url)
            .cloned()
    }

    /// The endpoints that take `record`: registered for its name, and
    /// enabled. A disabled one that would take it is reported as a
    /// failure of the record for it.
    pub(crate) fn targets(&self, record: &Arc<EventRecord>) -> (Vec<Arc<Live>>, Vec<Arc<Live>>) {
        let mut enabled = Vec::new();
        let mut disabled = Vec::new();
        for live in self.live() {
            if !live.wants(&record.name) {
                continue;
            }
            if live.disabled().is_some() {
                disabled.push(live);
            } else {
                enabled.push(live);
            }
        }
        (enabled, disabled)
    }

    /// Reports the webhook of `record` to `live` as failed for good.
    pub(crate) fn give_up(&self, live: &Live, record: &Arc<EventRecord>, why: &str, attempts: u32) {
        live.count_failed();
        let error: BoxError = if attempts == 0 {
            format!("webhook to {} not sent: {why}", live.url).into()
        } else {
            let tries = if attempts == 1 { "try" } else { "tries" };
            format!(
                "webhook to {} failed after {attempts} {tries}: {why}",
                live.url
            )
            .into()
        };
        if let Some(handle) = self.handle.get() {
            handle.dead_letter(Arc::clone(record), error, attempts);
        } else {
            tracing::error!(
                target: "eventbus",
                event = &*record.name,
                event_id = %record.envelope.id,
                "{error}"
            );
        }
    }

    /// Takes `records` in memory: each record's deliveries start at once.
    fn take(self: &Arc<Self>, records: &[Arc<EventRecord>]) -> Vec<SendOutcome> {
        records
            .iter()
            .map(|record| {
                let (targets, disabled) = self.targets(record);
                if targets.is_empty() && disabled.is_empty() {
                    return SendOutcome::Sent;
                }
                let message = Arc::new(Message::new(
                    Arc::clone(record),
                    targets.len() + disabled.len(),
                ));
                for live in disabled {
                    let why = disabled_why(&live);
                    self.give_up(&live, record, &why, 0);
                    message.done(false, self.handle.get());
                }
                for live in targets {
                    self.start_delivery(&message, live);
                }
                SendOutcome::Taken
            })
            .collect()
    }

    fn start_delivery(self: &Arc<Self>, message: &Arc<Message>, live: Arc<Live>) {
        let held = live.held.fetch_add(1, Ordering::AcqRel);
        if held >= self.settings.backlog {
            live.held.fetch_sub(1, Ordering::AcqRel);
            let why = format!(
                "the endpoint already holds {held} webhooks, its backlog; \
                 raise `WebhookSinkBuilder::backlog` or give the sink a store"
            );
            self.give_up(&live, &message.record, &why, 0);
            message.done(false, self.handle.get());
            return;
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        // The map's lock is held until the delivery is in it, so the task
        // cannot finish and look for itself before.
        let waiting = Arc::new(AtomicBool::new(false));
        let mut pending = lock(&self.pending);
        let task = tokio::spawn(deliver(
            Arc::clone(self),
            Arc::clone(message),
            Arc::clone(&live),
            key,
            Arc::clone(&waiting),
        ));
        pending.insert(
            key,
            Pending {
                message: Arc::clone(message),
                live,
                task: task.abort_handle(),
                waiting,
            },
        );
    }

    /// Ends a delivery in memory, unless a shutdown took it first.
    fn end_delivery(&self, key: u64, delivered: bool) {
        let Some(pending) = lock(&self.pending).remove(&key) else {
            return;
        };
        pending.live.held.fetch_sub(1, Ordering::AcqRel);
        pending.message.done(delivered, self.handle.get());
    }

    /// Abandons every delivery still under way in memory.
    fn abandon(&self) {
        let pending: Vec<Pending> = lock(&self.pending)
            .drain()
            .map(|(_, pending)| pending)
            .collect();
        for pending in pending {
            pending.task.abort();
            if pending.waiting.swap(false, Ordering::AcqRel) {
                pending.live.retrying(false);
            }
            pending.live.held.fetch_sub(1, Ordering::AcqRel);
            pending.live.count_failed();
            let error: BoxError = format!(
                "the bus shut down before the webhook to {} was delivered \
                 (its `shutdown_timeout` ran out)",
                pending.live.url
            )
            .into();
            if let Some(handle) = self.handle.get() {
                handle.abandon(Arc::clone(&pending.message.record), error, 0);
            }
            pending.message.done(false, self.handle.get());
        }
    }
}

/// Why a disabled endpoint takes nothing.
pub(crate) fn disabled_why(live: &Live) -> String {
    format!(
        "the endpoint is disabled ({}); register it again to enable it",
        live.disabled().unwrap_or_default()
    )
}

/// One webhook to one endpoint, in memory: tried on the schedule until
/// delivered or failed for good.
async fn deliver(
    inner: Arc<Inner>,
    message: Arc<Message>,
    live: Arc<Live>,
    key: u64,
    waiting: Arc<AtomicBool>,
) {
    let settings = &inner.settings;
    let mut attempt = 0;
    let delivered = loop {
        attempt += 1;
        let Ok(permit) = live.permits.acquire().await else {
            break false;
        };
        if live.disabled().is_some() {
            inner.give_up(&live, &message.record, &disabled_why(&live), attempt - 1);
            break false;
        }
        let endpoint = live.endpoint();
        let body = message.body(endpoint.format);
        let tried = inner
            .client
            .try_once(&endpoint, &message.id, body, settings.timeout)
            .await;
        drop(permit);
        match tried {
            Tried::Delivered => {
                live.count_sent();
                break true;
            }
            Tried::Gone { why } => {
                live.disable(format!("it answered 410 Gone to event {}", message.id));
                inner.give_up(&live, &message.record, &why, attempt);
                break false;
            }
            Tried::Refused { why } => {
                inner.give_up(&live, &message.record, &why, attempt);
                break false;
            }
            Tried::Retry { why, after, .. } => {
                let Some(wait) = settings.schedule.wait(attempt + 1, after) else {
                    inner.give_up(&live, &message.record, &why, attempt);
                    break false;
                };
                {
                    // Counted only while a shutdown has not taken the
                    // delivery: then it uncounts what it finds waiting.
                    let pending = lock(&inner.pending);
                    if !pending.contains_key(&key) {
                        return;
                    }
                    live.retrying(true);
                    waiting.store(true, Ordering::Release);
                }
                tokio::time::sleep(wait).await;
                if waiting.swap(false, Ordering::AcqRel) {
                    live.retrying(false);
                }
            }
        }
    };
    inner.end_delivery(key, delivered);
}

impl Sink for WebhookSink {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            #[cfg(feature = "store")]
            if let Some(durable) = &self.inner.durable {
                return durable.take(&self.inner, records).await;
            }
            self.inner.take(records)
        })
    }

    fn start(&self, handle: SinkHandle) {
        let _ = self.inner.handle.set(handle);
        #[cfg(feature = "store")]
        if self.inner.durable.is_some() {
            tokio::spawn(crate::durable::schedule(Arc::clone(&self.inner)));
        }
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, ()> {
        let _ = deadline;
        self.inner.closed.store(true, Ordering::Release);
        #[cfg(feature = "store")]
        if let Some(durable) = &self.inner.durable {
            durable.close();
        }
        self.inner.abandon();
        Box::pin(async {})
    }
}
