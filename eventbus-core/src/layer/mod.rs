//! Middleware: a [`Layer`] wraps every handler call, sync and async.
//!
//! Layers are added with [`BusBuilder::layer`](crate::BusBuilder::layer);
//! the first one added is the outermost. Each sees the call (event name and
//! id, envelope, handler) and decides whether and how to call
//! [`Next::run`], so a layer can log, measure, retry, time out, or
//! short-circuit the call altogether.

mod metrics;
mod retry;
#[cfg(feature = "tokio")]
mod timeout;
mod tracing_layer;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

pub use metrics::{HandlerMetrics, MetricsLayer, MetricsSnapshot, LATENCY_BUCKETS};
pub use retry::{RetryLayer, RetryPolicy};
#[cfg(feature = "tokio")]
pub use timeout::TimeoutLayer;
pub use tracing_layer::TracingLayer;

pub use crate::call_error::{NoRuntime, Panicked, TimedOut};

use crate::envelope::{Envelope, LazyId, Uuid};
use crate::handler::{BoxError, HandlerInfo};

/// A boxed future, as async layers return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Middleware around every handler call.
///
/// Override [`call`](Self::call) for sync handlers and
/// [`call_async`](Self::call_async) for async (and blocking) ones; both
/// default to calling the next layer. A layer that returns an error without
/// calling `next` short-circuits the call: the handler does not run, and the
/// error is reported as its failure.
///
/// ```
/// use eventbus::layer::{Call, Layer, Next};
/// use eventbus::BoxError;
///
/// /// Prints every handler call.
/// struct Log;
///
/// impl Layer for Log {
///     fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
///         println!("-> {} on {}", call.handler().handler_name(), call.event_name());
///         let result = next.run();
///         println!("<- {}", if result.is_ok() { "ok" } else { "failed" });
///         result
///     }
/// }
/// ```
pub trait Layer: Send + Sync + 'static {
    /// Wraps one call of a sync handler.
    ///
    /// # Errors
    ///
    /// The handler's error, or the layer's own to fail the call.
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let _ = call;
        next.run()
    }

    /// Wraps one call of an async handler, or of a blocking one (awaited
    /// while it runs on the blocking pool).
    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = call;
        next.run()
    }

    /// Whether the layer reads [`Call::envelope`]; the bus then builds an
    /// envelope for every event (by default it builds one only for events
    /// whose handlers take `&Context`).
    fn reads_envelope(&self) -> bool {
        false
    }

    /// A span to enter while one event's handlers run (sync and async);
    /// each follow-up event gets its own, with the same correlation id:
    /// the tracing layer's "one span per publish".
    fn delivery_span(
        &self,
        event_name: &'static str,
        envelope: Option<&Envelope>,
    ) -> Option<tracing::Span> {
        let _ = (event_name, envelope);
        None
    }

    /// The metrics this layer keeps, which [`Bus::metrics`](crate::Bus::metrics)
    /// returns: a [`MetricsLayer`] returns itself. A layer that wraps
    /// another forwards its answer.
    fn metrics(&self) -> Option<&MetricsLayer> {
        None
    }

    /// Whether this layer carries out handlers' own `retry = N` (as
    /// [`RetryLayer`] does), so the bus adds no default retry layer for
    /// them. A layer that wraps another forwards its answer.
    fn enforces_retry(&self) -> bool {
        false
    }

    /// Whether this layer carries out handlers' own `timeout_ms = N` (as
    /// `TimeoutLayer` does), so the bus adds no default timeout layer for
    /// them. A layer that wraps another forwards its answer.
    fn enforces_timeout(&self) -> bool {
        false
    }
}

/// One handler call, as a layer sees it.
pub struct Call<'a> {
    event_name: &'static str,
    event_id: &'a LazyId,
    envelope: Option<&'a Envelope>,
    handler: &'a HandlerInfo,
    attempts: AtomicU32,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        event_name: &'static str,
        event_id: &'a LazyId,
        envelope: Option<&'a Envelope>,
        handler: &'a HandlerInfo,
    ) -> Self {
        Self {
            event_name,
            event_id,
            envelope,
            handler,
            attempts: AtomicU32::new(0),
        }
    }

    /// The name of the event being handled.
    #[must_use]
    pub fn event_name(&self) -> &'static str {
        self.event_name
    }

    /// The id of the event being handled (the envelope's, when there is
    /// one).
    #[must_use]
    pub fn event_id(&self) -> Uuid {
        self.event_id.get()
    }

    /// The event's envelope, when the bus built one: always when a layer
    /// [`reads_envelope`](Layer::reads_envelope).
    #[must_use]
    pub fn envelope(&self) -> Option<&'a Envelope> {
        self.envelope
    }

    /// The handler being called.
    #[must_use]
    pub fn handler(&self) -> &'a HandlerInfo {
        self.handler
    }

    /// How many times the handler itself has been entered for this call so
    /// far (more than one after retries).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    fn count_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Call<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("event_name", &self.event_name)
            .field("handler", &self.handler.handler_name())
            .field("attempts", &self.attempts())
            .finish_non_exhaustive()
    }
}

/// The rest of the layer stack and the handler, for a sync call.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    layers: &'a [Arc<dyn Layer>],
    call: &'a Call<'a>,
    handler: &'a (dyn Fn() -> Result<(), BoxError> + 'a),
}

impl<'a> Next<'a> {
    pub(crate) fn new(
        layers: &'a [Arc<dyn Layer>],
        call: &'a Call<'a>,
        handler: &'a (dyn Fn() -> Result<(), BoxError> + 'a),
    ) -> Self {
        Self {
            layers,
            call,
            handler,
        }
    }

    /// Calls the next layer, or the handler. May be called more than once
    /// (to retry).
    ///
    /// # Errors
    ///
    /// The handler's error, or that of a layer further in.
    pub fn run(&self) -> Result<(), BoxError> {
        if let Some((layer, rest)) = self.layers.split_first() {
            let next = Next {
                layers: rest,
                ..*self
            };
            return layer.call(self.call, next);
        }
        self.call.count_attempt();
        (self.handler)()
    }
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("layers_left", &self.layers.len())
            .finish_non_exhaustive()
    }
}

/// The handler end of an async call: makes a fresh future on each call.
pub(crate) type AsyncHandler<'a> =
    dyn Fn() -> BoxFuture<'a, Result<(), BoxError>> + Send + Sync + 'a;

/// The rest of the layer stack and the handler, for an async call.
#[derive(Clone, Copy)]
pub struct NextAsync<'a> {
    layers: &'a [Arc<dyn Layer>],
    call: &'a Call<'a>,
    handler: &'a AsyncHandler<'a>,
}

impl<'a> NextAsync<'a> {
    pub(crate) fn new(
        layers: &'a [Arc<dyn Layer>],
        call: &'a Call<'a>,
        handler: &'a AsyncHandler<'a>,
    ) -> Self {
        Self {
            layers,
            call,
            handler,
        }
    }

    /// Calls the next layer, or the handler. May be called more than once
    /// (to retry): each call starts the handler anew.
    #[must_use = "the handler runs when the future is awaited"]
    pub fn run(&self) -> BoxFuture<'a, Result<(), BoxError>> {
        if let Some((layer, rest)) = self.layers.split_first() {
            let next = NextAsync {
                layers: rest,
                ..*self
            };
            return layer.call_async(self.call, next);
        }
        self.call.count_attempt();
        (self.handler)()
    }
}

impl fmt::Debug for NextAsync<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NextAsync")
            .field("layers_left", &self.layers.len())
            .finish_non_exhaustive()
    }
}
