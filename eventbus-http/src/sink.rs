//! [`WebhookSink`]: the original's `WebhookBus` as a [`Sink`]: endpoints
//! registered at run time per event name or pattern, each webhook signed,
//! tried on a schedule, and its final failure in the dead letters.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use eventbus_core::layer::BoxFuture;
use eventbus_core::{BoxError, EventRecord, SendOutcome, Sink, SinkHandle};

use crate::client::Client;
use crate::endpoint::{EndpointStats, IntoEndpoint, Pattern};
use crate::error::WebhookError;
use crate::live::Live;
use crate::schedule::RetrySchedule;

/// How long a try may take by default, the answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many tries go to one endpoint at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How many webhooks one endpoint may hold in memory by default, waiting
/// or being tried (see [`WebhookSinkBuilder::backlog`]).
pub const DEFAULT_BACKLOG: usize = 10_000;

/// Sends the records of accepted events as webhooks: the original
/// `WebhookBus`, signed (Standard Webhooks), retried, and reported.
///
/// Add it to a bus with [`BusBuilder::sink`](eventbus_core::BusBuilder::sink)
/// and keep a clone to [`register`](Self::register) endpoints at run
/// time (a sink serves one bus: give each bus a sink of its own). It wants every non-local event type and picks each record's
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
/// With a store (`WebhookSinkBuilder::store`, feature `store`) the deliveries are rows of
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
    /// In memory: the deliveries not yet settled.
    pub(crate) memory: crate::memory::Registry,
    pub(crate) closed: AtomicBool,
    #[cfg(feature = "store")]
    pub(crate) durable: Option<crate::durable::Durable>,
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
    /// being tried (default 10,000). Past that the sink waits for room
    /// while the endpoint is healthy (the bus's buffer fills, and `emit`
    /// waits), but sends more for an endpoint that is failing (a webhook
    /// waits for a retry, or it is disabled) to the dead letters at once,
    /// so that it holds back no other. Not used with a store.
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
    #[must_use]
    pub fn build(self) -> WebhookSink {
        WebhookSink {
            inner: Arc::new(Inner {
                #[cfg(feature = "store")]
                durable: self.store.map(crate::durable::Durable::new),
                settings: self.settings,
                client: Client::new(),
                endpoints: RwLock::new(Vec::new()),
                handle: OnceLock::new(),
                memory: crate::memory::Registry::default(),
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
            let settings = &self.inner.settings;
            endpoints.push(Arc::new(Live::new(
                endpoint,
                pattern,
                settings.concurrency,
                settings.backlog,
            )));
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
        Ok(self.inner.memory.len() as u64)
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

    /// The endpoints of `live` (a snapshot of [`Inner::live`], taken once
    /// per batch) that take `record`: registered for its name, and
    /// enabled. A disabled one that would take it is reported as a
    /// failure of the record for it.
    pub(crate) fn targets(
        live: &[Arc<Live>],
        record: &EventRecord,
    ) -> (Vec<Arc<Live>>, Vec<Arc<Live>>) {
        let mut enabled = Vec::new();
        let mut disabled = Vec::new();
        for live in live {
            if !live.wants(&record.name) {
                continue;
            }
            if live.disabled().is_some() {
                disabled.push(Arc::clone(live));
            } else {
                enabled.push(Arc::clone(live));
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
}

/// Why a disabled endpoint takes nothing.
pub(crate) fn disabled_why(live: &Live) -> String {
    format!(
        "the endpoint is disabled ({}); register it again to enable it",
        live.disabled().unwrap_or_default()
    )
}

impl Sink for WebhookSink {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            #[cfg(feature = "store")]
            if let Some(durable) = &self.inner.durable {
                return durable.take(&self.inner, records).await;
            }
            self.inner.take(records).await
        })
    }

    fn start(&self, handle: SinkHandle) {
        if let Err(second) = self.inner.handle.set(handle) {
            tracing::error!(
                target: "eventbus",
                sink = second.name().as_deref().unwrap_or_default(),
                "a WebhookSink serves one bus, and this one was given to a second: its records \
                 are settled with the first; give each bus a WebhookSink of its own"
            );
        } else {
            #[cfg(feature = "store")]
            if self.inner.durable.is_some() {
                tokio::spawn(crate::durable::schedule(Arc::downgrade(&self.inner)));
            }
        }
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, ()> {
        self.inner.closed.store(true, Ordering::Release);
        // In memory, the bus's flush waited until `deadline` already.
        self.inner.abandon();
        Box::pin(async move {
            #[cfg(feature = "store")]
            if let Some(durable) = &self.inner.durable {
                durable.close(deadline).await;
            }
            let _ = deadline;
        })
    }
}
