//! The [`Bus`]: routes each published event to its handlers.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::builder::BusBuilder;
use crate::error::PublishError;
use crate::event::Event;
use crate::handler::{HandlerInfo, HandlerKind, IntoHandlerResult, SourceLocation};
use crate::registry::{CallArgs, Registry};
use crate::report::Report;
use crate::route::{run_one, AnyRoute, ErasedRoute, TypedRoute};
use crate::subscription::{RuntimeSubs, Subscription};

pub(crate) struct Inner {
    /// Indexed by event slot; each a `TypedRoute<E>` of the slot's type.
    pub(crate) routes: Box<[Option<AnyRoute>]>,
    /// For an event type the registry never saw: the catch-alls only.
    pub(crate) fallback: ErasedRoute,
    pub(crate) dead: ErasedRoute,
    /// Every link-time handler of this bus, in the registry's order.
    pub(crate) selected: Box<[HandlerInfo]>,
    pub(crate) runtime: Arc<RuntimeSubs>,
    pub(crate) catch_panics: bool,
}

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
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

impl Bus {
    /// Builds a bus with every handler registered in the program.
    ///
    /// # Panics
    ///
    /// Panics with the message [`BusBuilder::build`] would return when the
    /// registry is invalid (two event types with one name).
    #[must_use]
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(bus) => bus,
            Err(error) => panic!("{error}"),
        }
    }

    /// Starts configuring a bus.
    pub fn builder() -> BusBuilder {
        BusBuilder::new()
    }

    /// Delivers `event` to each of its handlers, in order, on this thread,
    /// and reports how many ran and which failed.
    ///
    /// Link-time handlers run first (higher priority first, then in source
    /// order), then run-time subscriptions in the order they were made. A
    /// handler that fails or panics does not stop the others. When no
    /// handler of the event ran, `&DeadEvent` handlers get it.
    pub fn publish<E: Event>(&self, event: E) -> Report {
        let meta = E::__meta();
        let slot = meta.slot();
        let inner = &*self.inner;
        // Taken before any handler runs: a subscription made meanwhile is
        // not called by this publish.
        let runtime = inner.runtime.snapshot(slot);
        let args = CallArgs {
            meta,
            event: &event,
        };
        let mut report = Report::new(meta.name());

        let route = inner
            .routes
            .get(slot)
            .and_then(Option::as_ref)
            .and_then(|route| route.downcast_ref::<TypedRoute<E>>());
        match route {
            Some(route) => route.dispatch(&event, &args, inner.catch_panics, &mut report),
            None => inner
                .fallback
                .dispatch(&args, inner.catch_panics, &mut report),
        }
        if let Some(subs) = runtime {
            for sub in subs.iter() {
                let Some(_call) = sub.enter() else {
                    continue;
                };
                report.add_handled(1);
                run_one(&sub.info, inner.catch_panics, &mut report, || {
                    sub.call(&event)
                });
            }
        }
        if report.is_dead() && !inner.dead.is_empty() {
            inner.dead.dispatch(&args, inner.catch_panics, &mut report);
        }
        report
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
        let registry = Registry::get();
        if let Some(meta) = registry.by_name.get(name) {
            if let Some(codec) = meta.codec() {
                return (codec.publish_json)(self, json);
            }
        }
        if let Some(local) = registry.events.iter().find(|meta| meta.name() == name) {
            return Err(PublishError::LocalEvent {
                name: local.name(),
                type_path: local.type_path(),
            });
        }
        Err(PublishError::UnknownEvent {
            name: name.to_owned(),
            suggestions: registry.similar_names(name),
        })
    }

    /// Adds a handler at run time; it stays subscribed until the returned
    /// [`Subscription`] is dropped.
    ///
    /// The closure may return `()` or `Result<(), E>`. Run-time handlers of
    /// an event run after its link-time handlers, in subscription order,
    /// and belong to this bus and its clones only.
    #[track_caller]
    pub fn subscribe<E, F, R>(&self, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(&E) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let info = HandlerInfo::new(
            E::NAME,
            std::any::type_name::<F>(),
            SourceLocation::caller(std::panic::Location::caller()),
            0,
            HandlerKind::Sync,
        );
        let call = Box::new(move |event: &dyn Any| {
            match event.downcast_ref::<E>() {
            Some(event) => handler(event).into_handler_result(),
            None => Err(format!(
                "a run-time handler of `{}` was handed an event of another type; please report this bug",
                E::NAME
            )
            .into()),
        }
        });
        self.inner.runtime.add(E::__meta().slot(), info, call)
    }

    /// Every handler of this bus: link-time handlers in dispatch order, then
    /// run-time subscriptions.
    #[must_use]
    pub fn handlers(&self) -> Vec<HandlerInfo> {
        let mut infos = self.inner.selected.to_vec();
        infos.extend(self.inner.runtime.infos());
        infos
    }
}

// A panicking handler leaves the bus as it was: routes are immutable, the
// run-time table is swapped whole, and its locks ignore poisoning.
impl std::panic::UnwindSafe for Bus {}
impl std::panic::RefUnwindSafe for Bus {}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("handlers", &self.inner.selected.len())
            .field("catch_panics", &self.inner.catch_panics)
            .finish_non_exhaustive()
    }
}
