//! [`MetricsLayer`]: per-handler call counts, failures and latencies.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{BoxFuture, Call, Layer, Next, NextAsync};
use crate::handler::BoxError;

/// The upper bounds of the latency histogram's buckets; a last bucket
/// holds the calls slower than the last bound.
pub const LATENCY_BUCKETS: [Duration; 7] = [
    Duration::from_micros(1),
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
];

/// Counts every handler call, its failures and its latency, per handler;
/// read them with [`Bus::metrics`](crate::Bus::metrics) or
/// [`MetricsLayer::snapshot`]. No global registry: each layer keeps its
/// own numbers, and clones share them.
///
/// A call is counted once however many attempts a retry layer inside it
/// makes; put it inside the retry layer to count attempts instead.
///
/// ```
/// use eventbus::layer::MetricsLayer;
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Tick;
///
/// #[subscribe]
/// fn on_tick(_: &Tick) {}
///
/// let bus = Bus::builder().layer(MetricsLayer::new()).build().unwrap();
/// let _ = bus.publish(Tick);
/// let metrics = bus.metrics().expect("the metrics layer is installed");
/// let tick = metrics.handler("rust_out::on_tick").unwrap();
/// assert_eq!((tick.calls, tick.failures), (1, 0));
/// ```
#[derive(Clone, Default)]
pub struct MetricsLayer {
    registry: Arc<RwLock<HashMap<HandlerKey, Arc<Stats>>>>,
}

/// A handler's name and its event's name.
type HandlerKey = (&'static str, &'static str);

#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    total_nanos: AtomicU64,
    max_nanos: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl MetricsLayer {
    /// A layer with no numbers yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The numbers so far, one entry per handler that was called, sorted
    /// by handler name.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        let mut handlers: Vec<HandlerMetrics> = registry
            .iter()
            .map(|(&(handler_name, event_name), stats)| HandlerMetrics {
                handler_name,
                event_name,
                calls: stats.calls.load(Ordering::Relaxed),
                failures: stats.failures.load(Ordering::Relaxed),
                total: Duration::from_nanos(stats.total_nanos.load(Ordering::Relaxed)),
                max: Duration::from_nanos(stats.max_nanos.load(Ordering::Relaxed)),
                buckets: std::array::from_fn(|at| stats.buckets[at].load(Ordering::Relaxed)),
            })
            .collect();
        handlers.sort_by(|a, b| {
            a.handler_name
                .cmp(b.handler_name)
                .then_with(|| a.event_name.cmp(b.event_name))
        });
        MetricsSnapshot { handlers }
    }

    fn stats(&self, call: &Call<'_>) -> Arc<Stats> {
        let key = (call.handler().handler_name(), call.event_name());
        if let Some(stats) = self
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(stats);
        }
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(registry.entry(key).or_default())
    }

    fn record(&self, call: &Call<'_>, elapsed: Duration, failed: bool) {
        let stats = self.stats(call);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        stats.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        stats.total_nanos.fetch_add(nanos, Ordering::Relaxed);
        stats.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| elapsed <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

impl Layer for MetricsLayer {
    fn metrics(&self) -> Option<&MetricsLayer> {
        Some(self)
    }

    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let started = Instant::now();
        let result = next.run();
        self.record(call, started.elapsed(), result.is_err());
        result
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = next.run().await;
            self.record(call, started.elapsed(), result.is_err());
            result
        })
    }
}

impl fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsLayer").finish_non_exhaustive()
    }
}

/// The numbers of every handler a [`MetricsLayer`] has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// One entry per handler, sorted by handler name.
    pub handlers: Vec<HandlerMetrics>,
}

impl MetricsSnapshot {
    /// The numbers of the handler named `handler_name` (its full path, or
    /// its `name = ".."`), summed over the events it handles.
    #[must_use]
    pub fn handler(&self, handler_name: &str) -> Option<HandlerMetrics> {
        self.handlers
            .iter()
            .filter(|metrics| metrics.handler_name == handler_name)
            .cloned()
            .reduce(HandlerMetrics::merged)
    }
}

/// Calls, failures and latency of one handler for one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerMetrics {
    /// The handler's name.
    pub handler_name: &'static str,
    /// The event's name.
    pub event_name: &'static str,
    /// Calls made, failed ones included.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// The time all calls took together.
    pub total: Duration,
    /// The slowest call.
    pub max: Duration,
    /// Calls per latency bucket: `buckets[i]` counts the calls that took at
    /// most [`LATENCY_BUCKETS`]`[i]` (and more than the bound before); the
    /// last counts the slower ones.
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
}

impl HandlerMetrics {
    /// The mean latency; zero before any call.
    #[must_use]
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.calls) {
            Ok(0) => Duration::ZERO,
            Ok(calls) => self.total / calls,
            Err(_) => Duration::from_nanos(
                u64::try_from(self.total.as_nanos() / u128::from(self.calls)).unwrap_or(u64::MAX),
            ),
        }
    }

    fn merged(self, other: Self) -> Self {
        Self {
            calls: self.calls + other.calls,
            failures: self.failures + other.failures,
            total: self.total + other.total,
            max: self.max.max(other.max),
            buckets: std::array::from_fn(|at| self.buckets[at] + other.buckets[at]),
            ..self
        }
    }
}
