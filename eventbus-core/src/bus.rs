//! The [`Bus`]: routes each published event to its handlers.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::cascade::Cascade;
use crate::context::Context;
use crate::context::State;
use crate::context::{Given, Parent};
use crate::depth::{nesting, Nesting};
use crate::dispatch::SharedOrOwned;
use crate::dispatcher::Dispatcher;
use crate::envelope::LazyId;
use crate::error::PublishError;
use crate::event::Event;
use crate::event_fns::EventFns;
use crate::extensions::Extensions;
use crate::handler::HandlerInfo;
use crate::layer::{MetricsLayer, MetricsSnapshot};
use crate::meta::EventMeta;
use crate::plain::Plain;
use crate::record_json::{decode_payload, find_event};
use crate::report::Report;

/// Routes each published event to every handler of its type.
///
/// `Bus::new()` collects every `#[subscribe]` function linked into the
/// program; [`Bus::builder`] adjusts the bus before building it. A `Bus` is
/// cheap to clone, and clones share one bus.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
/// struct OrderPlaced {
///     item: String,
/// }
///
/// #[subscribe]
/// fn update_inventory(order: &OrderPlaced) {
///     println!("Order placed: {}. Updating inventory...", order.item);
/// }
///
/// let bus = Bus::new();
/// let report = bus.publish(OrderPlaced { item: "Book".into() });
/// assert_eq!(report.handled(), 1);
/// assert!(report.is_ok());
/// ```
pub struct Bus {
    pub(crate) dispatcher: Arc<Dispatcher>,
}

impl Clone for Bus {
    fn clone(&self) -> Self {
        Self::from_dispatcher(&self.dispatcher)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.dispatcher.drop_handle();
    }
}

impl Bus {
    /// A new handle on `dispatcher`.
    pub(crate) fn from_dispatcher(dispatcher: &Arc<Dispatcher>) -> Self {
        dispatcher.add_handle();
        Self {
            dispatcher: Arc::clone(dispatcher),
        }
    }

    /// Delivers `event` to each of its handlers, in order, on this thread,
    /// and reports how many ran and which failed.
    ///
    /// Link-time handlers run first (higher priority first, then in source
    /// order), then run-time subscriptions in the order they were made. A
    /// handler that fails or panics does not stop the others. When no
    /// handler of the event ran, `&DeadEvent` handlers get it.
    ///
    /// Async, background and blocking handlers are spawned on the bus's
    /// runtime and counted in [`Report::scheduled`]; `idle().await` waits
    /// for them. Without a runtime they are reported as failed. Follow-up
    /// events published with [`Context::publish`](crate::Context::publish)
    /// are delivered before this returns.
    #[inline]
    pub fn publish<E: Event>(&self, event: E) -> Report {
        let dispatcher = &*self.dispatcher;
        let nesting = nesting();
        let depth = nesting.depth;
        if dispatcher.accepts(nesting) {
            match dispatcher.try_deliver_plain(&event, nesting, depth) {
                Plain::Handled(handled) => return Report::succeeded(E::NAME, handled),
                Plain::Finished(report) => {
                    dispatcher.report_failures(report.failures());
                    return *report;
                }
                Plain::General => {}
            }
        }
        self.publish_general(event, nesting, None)
    }

    /// [`Bus::publish`], filing the event in the journal stream `stream`
    /// instead of the one named after the event (see
    /// [`BusBuilder::journal`](crate::BusBuilder::journal)); on a bus
    /// without a journal, the same as `publish`.
    pub fn publish_to<E: Event>(&self, stream: &str, event: E) -> Report {
        self.publish_general(event, nesting(), Some(stream.into()))
    }

    /// Everything `publish` does beyond plain handlers, kept out of line so
    /// the plain case stays small.
    #[inline(never)]
    fn publish_general<E: Event>(
        &self,
        event: E,
        nesting: Nesting,
        stream: Option<Arc<str>>,
    ) -> Report {
        let dispatcher = &self.dispatcher;
        if let Some(refused) = dispatcher.refuse(&event, nesting) {
            return refused;
        }
        let mut id = LazyId::default();
        let parent = Parent {
            stream,
            ..Parent::root(nesting.depth)
        };
        let (delivered, failures) = Cascade::deliver_sync(dispatcher, |failures, follow_ups| {
            dispatcher.deliver_sync(event, parent, &mut id, failures, follow_ups)
        });
        dispatcher.report_failures(&failures);
        delivered.into_report(E::NAME, id, failures)
    }

    /// Publishes an event that only its metadata describes, as
    /// `publish_general` does; a delivered record's `given` envelope and
    /// `extensions` go with it.
    pub(crate) fn publish_decoded(
        &self,
        meta: &'static EventMeta,
        event: Box<dyn Any + Send>,
        given: Option<Box<Given>>,
        extensions: Option<Arc<Extensions>>,
    ) -> Report {
        let dispatcher = &self.dispatcher;
        let nesting = nesting();
        if let Some(refused) = dispatcher.refuse_erased(meta, &*event, nesting) {
            return refused;
        }
        let mut id = LazyId::default();
        let parent = Parent {
            given,
            extensions,
            ..Parent::root(nesting.depth)
        };
        let deliver = EventFns::of_meta(meta).deliver_sync;
        let (delivered, failures) = Cascade::deliver_sync(dispatcher, |failures, follow_ups| {
            deliver(dispatcher, event, parent, &mut id, failures, follow_ups)
        });
        dispatcher.report_failures(&failures);
        delivered.into_report(meta.name(), id, failures)
    }

    /// Delivers `event` and waits for every handler: sync handlers run
    /// inline in order, async and blocking handlers concurrently; follow-up
    /// events are delivered the same way before it returns.
    ///
    /// `background` handlers are spawned and not awaited (counted in
    /// [`Report::scheduled`]).
    pub async fn publish_async<E: Event>(&self, event: E) -> Report {
        let nesting = nesting();
        if let Some(refused) = self.dispatcher.refuse(&event, nesting) {
            return refused;
        }
        let depth = nesting.depth;
        if self.dispatcher.is_async_plain::<E>() {
            return self.dispatcher.publish_async_plain(event, depth).await;
        }
        // Written out rather than through a helper: each nested
        // `publish_async` polls through every layer of futures here, and in
        // a debug build one more layer takes 128 levels past a 2 MiB stack.
        let dispatcher = &self.dispatcher;
        let mut id = LazyId::default();
        let mut failures = Vec::new();
        let mut follow_ups = Vec::new();
        let delivered = dispatcher
            .deliver_async(
                SharedOrOwned::Owned(event),
                Parent::root(depth),
                &mut id,
                &mut failures,
                &mut follow_ups,
            )
            .await;
        Cascade::new(follow_ups)
            .run_async(dispatcher, &mut failures)
            .await;
        dispatcher.report_failures(&failures);
        delivered.into_report(E::NAME, id, failures)
    }

    /// Per-handler call counts, failures and latencies; `None` unless a
    /// [`MetricsLayer`] was added to the bus.
    #[must_use]
    pub fn metrics(&self) -> Option<MetricsSnapshot> {
        self.dispatcher
            .hooks
            .metrics
            .as_ref()
            .map(MetricsLayer::snapshot)
    }

    /// The state of type `T` given to [`BusBuilder::state`](crate::BusBuilder::state), if any.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.dispatcher.states.get::<T>()
    }

    /// Decodes `json` into the event type registered under `name` and
    /// publishes it.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// #[event(name = "doc.greeted")]
    /// struct Greeted {
    ///     who: String,
    /// }
    ///
    /// let bus = Bus::new();
    /// let report = bus.publish_json("doc.greeted", r#"{"who":"Ada"}"#).unwrap();
    /// assert!(report.is_ok());
    /// assert!(bus.publish_json("doc.greetd", "{}").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// Nothing is delivered and an error says what was wrong when no type
    /// is registered under `name` ([`PublishError::UnknownEvent`], with the
    /// closest registered names), when it is a local event
    /// ([`PublishError::LocalEvent`]), or when the JSON does not decode
    /// ([`PublishError::InvalidJson`]).
    pub fn publish_json(&self, name: &str, json: &str) -> Result<Report, PublishError> {
        let meta = find_event(name)?;
        let event = decode_payload(meta, json.as_bytes())?;
        Ok(self.publish_decoded(meta, event, None, None))
    }

    /// Every handler of this bus: link-time handlers in dispatch order, then
    /// run-time subscriptions.
    #[must_use]
    pub fn handlers(&self) -> Vec<HandlerInfo> {
        let mut infos = self.dispatcher.selected.to_vec();
        infos.extend(self.dispatcher.runtime_subs.infos());
        infos
    }
}

// A panicking handler leaves the bus as it was: routes are immutable, the
// run-time table is swapped whole, and its locks ignore poisoning.
impl std::panic::UnwindSafe for Bus {}
impl std::panic::RefUnwindSafe for Bus {}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("handlers", &self.dispatcher.selected.len())
            .field("catch_panics", &self.dispatcher.settings.catch_panics)
            .field("shut_down", &self.dispatcher.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The bus delivering the event. A handler holds it only while it
    /// runs, so no reference cycle forms.
    #[must_use]
    // Cannot panic: a context's handle is on the `Dispatcher` that made
    // it (`Dispatcher::context_handle`), and it keeps only the `Bus` made
    // here.
    #[allow(clippy::missing_panics_doc)]
    pub fn bus(&self) -> &Bus {
        let (handle, bus) = self.bus_parts();
        bus.get_or_init(|| {
            let dispatcher = handle
                .target()
                .downcast::<Dispatcher>()
                .expect("a context's handle is on a `Dispatcher`");
            Box::new(Bus::from_dispatcher(&dispatcher))
        })
        .downcast_ref::<Bus>()
        .expect("a context keeps the `Bus` it made")
    }
}
