//! The [`Bus`]: routes each published event to its handlers.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::cascade::Parent;
use crate::cascade::{cascade_depth_failure, Cascade};
use crate::context::{State, States};
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::depth::{nesting, Nesting, MAX_NESTED_PUBLISH};
use crate::dispatch::{Delivered, Plain, SharedOrOwned};
use crate::envelope::LazyId;
use crate::error::PublishError;
use crate::event::Event;
use crate::event_fns::EventFns;
use crate::handler::HandlerInfo;
use crate::invoke::Stack;
use crate::layer::{Layer, MetricsLayer, MetricsSnapshot};
use crate::meta::EventMeta;
use crate::registry::Registry;
use crate::report::{FailureKind, HandlerFailure, Report};
use crate::route::{AnyRoute, ErasedRoute};
use crate::subscription::RuntimeSubs;

/// Limits and switches fixed when the bus is built.
pub(crate) struct Settings {
    pub(crate) catch_panics: bool,
    pub(crate) max_cascade_depth: u32,
    pub(crate) max_cascade_events: usize,
    /// A layer reads envelopes, so every event gets one.
    pub(crate) layers_read_envelope: bool,
}

/// What `BusBuilder::on_error` is given.
pub(crate) type ErrorHook = Box<dyn Fn(&HandlerFailure) + Send + Sync>;

/// Where final failures go besides the caller's report.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) on_error: Option<ErrorHook>,
    pub(crate) dead_letters: Option<Arc<dyn DeadLetters>>,
    pub(crate) metrics: Option<MetricsLayer>,
}

/// Where a bus finds the handlers of each event type.
pub(crate) enum Routes {
    /// Every link-time handler: the per-type routes all such buses share.
    Shared,
    /// Some handlers left out: indexed by event slot, each a
    /// `TypedRoute<E>` of the slot's type.
    Own(Box<[Option<AnyRoute>]>),
}

/// Everything one bus and its clones share.
pub(crate) struct Shared {
    pub(crate) routes: Routes,
    /// For an event type the registry never saw: the catch-alls only.
    pub(crate) fallback: ErasedRoute,
    pub(crate) dead: ErasedRoute,
    /// Every link-time handler of this bus, in the registry's order.
    pub(crate) selected: Box<[HandlerInfo]>,
    pub(crate) runtime_subs: RuntimeSubs,
    pub(crate) settings: Settings,
    pub(crate) states: States,
    /// Outermost first.
    pub(crate) layers: Box<[Arc<dyn Layer>]>,
    /// `layers` and the retry/timeout layers added for handlers' own
    /// options; used for those handlers only.
    pub(crate) policy_layers: Box<[Arc<dyn Layer>]>,
    pub(crate) hooks: Hooks,
    sequence: AtomicU64,
    /// Live `Bus` values; the queue closes when the last one drops.
    handles: AtomicUsize,
    shut_down: AtomicBool,
    #[cfg(feature = "tokio")]
    pub(crate) tasks: Arc<crate::tasks::Tasks<crate::queue::Events>>,
    #[cfg(feature = "tokio")]
    pub(crate) queue: crate::queue::Queue,
}

/// How the background queue is set up.
#[cfg(feature = "tokio")]
pub(crate) struct QueueSettings {
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    pub(crate) capacity: usize,
    pub(crate) workers: usize,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        routes: Routes,
        fallback: ErasedRoute,
        dead: ErasedRoute,
        selected: Box<[HandlerInfo]>,
        settings: Settings,
        states: States,
        layers: Box<[Arc<dyn Layer>]>,
        policy_layers: Box<[Arc<dyn Layer>]>,
        hooks: Hooks,
        #[cfg(feature = "tokio")] queue: QueueSettings,
    ) -> Self {
        Self {
            routes,
            fallback,
            dead,
            selected,
            runtime_subs: RuntimeSubs::new(),
            settings,
            states,
            layers,
            policy_layers,
            hooks,
            sequence: AtomicU64::new(0),
            handles: AtomicUsize::new(0),
            shut_down: AtomicBool::new(false),
            #[cfg(feature = "tokio")]
            tasks: Arc::new(crate::tasks::Tasks::new(
                queue.runtime,
                crate::ledger::Ledger::new(queue.capacity, queue.workers),
            )),
            #[cfg(feature = "tokio")]
            queue: crate::queue::Queue::default(),
        }
    }

    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Spawns `future` on the bus's runtime, tracked for `idle` and
    /// `shutdown`; `None` without a runtime.
    #[cfg_attr(not(feature = "tokio"), allow(clippy::unused_self))]
    pub(crate) fn spawn<F>(&self, future: F) -> Option<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        #[cfg(feature = "tokio")]
        {
            self.tasks.spawn(future)
        }
        #[cfg(not(feature = "tokio"))]
        {
            drop(future);
            None
        }
    }

    /// Runs `work` on the runtime's blocking pool, tracked; the returned
    /// future yields its result, or the panic that ended it. `None`
    /// without a runtime.
    #[cfg_attr(not(feature = "tokio"), allow(clippy::unused_self))]
    pub(crate) fn spawn_blocking<T, F>(&self, work: F) -> Option<BlockingResult<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        #[cfg(feature = "tokio")]
        {
            let handle = self.tasks.spawn_blocking(work)?;
            Some(Box::pin(async move {
                handle
                    .await
                    .map_err(|error| format!("the blocking task ended early: {error}"))
            }))
        }
        #[cfg(not(feature = "tokio"))]
        {
            drop(work);
            None
        }
    }

    /// The layers and the panic setting, as handler calls need them.
    #[inline]
    pub(crate) fn stack(&self) -> Stack<'_> {
        Stack {
            layers: &self.layers,
            policy_layers: &self.policy_layers,
            catch: self.settings.catch_panics,
        }
    }

    /// Whether failures keep their event as JSON (for the dead letters).
    #[inline]
    pub(crate) fn captures(&self) -> bool {
        self.hooks.dead_letters.is_some()
    }

    /// Keeps the event of `failure` as JSON, when dead letters want it.
    pub(crate) fn capture(
        &self,
        failure: &mut HandlerFailure,
        meta: &'static EventMeta,
        event: &dyn Any,
    ) {
        if self.captures() {
            failure.capture(meta, event);
        }
    }

    /// Hands final failures to `on_error` and the dead letters. A hook
    /// that panics is reported through `tracing` and does not stop the
    /// others, unless panics are let through (`catch_panics(false)`).
    pub(crate) fn report_failures(&self, failures: &[HandlerFailure]) {
        self.report_failures_catching(failures, self.settings.catch_panics);
    }

    /// [`Shared::report_failures`] from a destructor: a hook's panic is always
    /// caught there, since a panic out of a destructor that runs while a
    /// panic unwinds aborts the process.
    pub(crate) fn report_failures_in_drop(&self, failures: &[HandlerFailure]) {
        self.report_failures_catching(failures, true);
    }

    fn report_failures_catching(&self, failures: &[HandlerFailure], catch: bool) {
        for failure in failures {
            if let Some(on_error) = &self.hooks.on_error {
                run_hook(catch, "on_error hook", failure, || on_error(failure));
            }
            if let Some(dead_letters) = &self.hooks.dead_letters {
                run_hook(catch, "dead-letter store", failure, || {
                    dead_letters.push(DeadLetter::from_failure(failure));
                });
            }
        }
    }
}

/// Runs an `on_error` hook or a dead-letter store; when `catch`, its panic
/// is logged through `tracing` instead of escaping.
fn run_hook(catch: bool, what: &str, failure: &HandlerFailure, hook: impl FnOnce()) {
    if !catch {
        hook();
        return;
    }
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)) {
        tracing::error!(
            target: "eventbus",
            event = failure.event_name(),
            event_id = %failure.event_id(),
            "the {what} panicked while taking a failure ({failure}): {}",
            crate::report::take_panic(payload)
        );
    }
}

impl Shared {
    /// Reports failures that no caller will see: those of spawned handlers
    /// and queued events.
    pub(crate) fn report_unseen_failures(&self, failures: Vec<HandlerFailure>) {
        self.report_failures(&failures);
        for failure in failures {
            tracing::error!(
                target: "eventbus",
                event = failure.event_name(),
                event_id = %failure.event_id(),
                handler = failure.handler().map_or("-", HandlerInfo::handler_name),
                kind = ?failure.kind(),
                "{failure}"
            );
        }
    }
}

/// A delivery that no caller awaits (a spawned handler, a queued event's
/// async handlers): reported as [`FailureKind::Abandoned`] if it is dropped
/// before [`Unfinished::finish`], which happens when the runtime running it
/// ends first.
pub(crate) struct Unfinished {
    shared: Arc<Shared>,
    handler: Option<HandlerInfo>,
    meta: &'static EventMeta,
    id: crate::envelope::Uuid,
    /// The event, kept for the dead letters.
    event: Option<Arc<dyn Any + Send + Sync>>,
    finished: bool,
}

impl Shared {
    /// Watches the delivery of `event` to `handler` (`None`: every handler
    /// of a queued event). The event is encoded for the dead letters only
    /// if the delivery is abandoned.
    pub(crate) fn unfinished_shared<E: Event>(
        self: &Arc<Self>,
        handler: Option<&HandlerInfo>,
        id: crate::envelope::Uuid,
        event: &Arc<E>,
    ) -> Unfinished {
        Unfinished {
            shared: Arc::clone(self),
            handler: handler.cloned(),
            meta: E::__meta(),
            id,
            event: self
                .captures()
                .then(|| Arc::clone(event) as Arc<dyn Any + Send + Sync>),
            finished: false,
        }
    }
}

impl Unfinished {
    /// The delivery has finished: nothing to report.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        // A handler panicking through the bus (`catch_panics(false)`) is
        // not abandoned: the panic is what the user asked to see.
        if self.finished || std::thread::panicking() {
            return;
        }
        let name = self.meta.name();
        let id = crate::envelope::LazyId::known(self.id);
        let event = crate::report::EventRef { name, id: &id };
        let message = match &self.handler {
            Some(handler) => format!(
                "the handler {} of `{name}` was abandoned before it finished: the runtime that \
                 ran it ended first; await `bus.idle()` or `bus.shutdown()` before the runtime ends",
                handler.handler_name()
            ),
            None => format!(
                "the delivery of `{name}` was abandoned before its handlers finished: the runtime \
                 that ran the bus's queue ended first; await `bus.shutdown()` before the runtime ends"
            ),
        };
        let mut failure = HandlerFailure::delivery(FailureKind::Abandoned, event, message);
        if let Some(event) = self.event.take() {
            failure.capture(self.meta, &*event);
        }
        tracing::error!(
            target: "eventbus",
            event = name,
            event_id = %self.id,
            "{failure}"
        );
        self.shared.report_failures_in_drop(&[failure]);
    }
}

/// The result of work on the blocking pool, or why it ended early.
pub(crate) type BlockingResult<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

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
    pub(crate) shared: Arc<Shared>,
}

impl Clone for Bus {
    fn clone(&self) -> Self {
        Self::from_shared(&self.shared)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last handle: the queue takes no more events and its
            // workers end once they have delivered what is queued.
            #[cfg(feature = "tokio")]
            self.shared.close_queue();
        }
    }
}

#[cfg(feature = "tokio")]
impl Drop for Shared {
    fn drop(&mut self) {
        // Events still queued now have no worker and never will: the
        // runtime that ran it ended. They are reported, not lost.
        let events = self.tasks.ledger.take_all();
        self.abandon(events);
    }
}

impl Bus {
    /// A new handle on `shared`.
    pub(crate) fn from_shared(shared: &Arc<Shared>) -> Self {
        shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(shared),
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
        let shared = &*self.shared;
        let nesting = nesting();
        let depth = nesting.depth;
        if shared.accepts(nesting) {
            match shared.try_deliver_plain(&event, depth) {
                Plain::Handled(handled) => return Report::succeeded(E::NAME, handled),
                Plain::Finished(report) => {
                    shared.report_failures(report.failures());
                    return report;
                }
                Plain::General => {}
            }
        }
        self.publish_general(event, nesting)
    }

    /// Everything `publish` does beyond plain handlers, kept out of line so
    /// the plain case stays small.
    #[inline(never)]
    fn publish_general<E: Event>(&self, event: E, nesting: Nesting) -> Report {
        let shared = &self.shared;
        if let Some(refused) = shared.refuse(&event, nesting) {
            return refused;
        }
        let depth = nesting.depth;
        let id = LazyId::default();
        let mut failures = Vec::new();
        let mut cascade = Cascade::default();
        let delivered =
            shared.deliver_sync(event, Parent::root(depth), &id, &mut failures, &mut cascade);
        shared.run_cascade_sync(&mut failures, &mut cascade);
        shared.report_failures(&failures);
        delivered.into_report(E::NAME, id, failures)
    }

    /// Delivers `event` and waits for every handler: sync handlers run
    /// inline in order, async and blocking handlers concurrently; follow-up
    /// events are delivered the same way before it returns.
    ///
    /// `background` handlers are spawned and not awaited (counted in
    /// [`Report::scheduled`]).
    pub async fn publish_async<E: Event>(&self, event: E) -> Report {
        let nesting = nesting();
        if let Some(refused) = self.shared.refuse(&event, nesting) {
            return refused;
        }
        let depth = nesting.depth;
        if self.shared.is_async_plain::<E>() {
            return self.shared.publish_async_plain(event, depth).await;
        }
        let shared = &self.shared;
        let id = LazyId::default();
        let mut failures = Vec::new();
        let mut cascade = Cascade::default();
        let delivered = shared
            .deliver_async(
                SharedOrOwned::Owned(event),
                Parent::root(depth),
                &id,
                &mut failures,
                &mut cascade,
            )
            .await;
        shared.run_cascade_async(&mut failures, &mut cascade).await;
        shared.report_failures(&failures);
        delivered.into_report(E::NAME, id, failures)
    }

    /// Per-handler call counts, failures and latencies; `None` unless a
    /// [`MetricsLayer`] was added to the bus.
    #[must_use]
    pub fn metrics(&self) -> Option<MetricsSnapshot> {
        self.shared
            .hooks
            .metrics
            .as_ref()
            .map(MetricsLayer::snapshot)
    }

    /// The state of type `T` given to [`BusBuilder::state`](crate::BusBuilder::state), if any.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.shared.states.get::<T>()
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
                let event = (codec.decode)(json).map_err(|source| PublishError::InvalidJson {
                    name: meta.name(),
                    type_path: meta.type_path(),
                    source,
                })?;
                return Ok(EventFns::of_meta(meta).publish(self, event));
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

    /// Every handler of this bus: link-time handlers in dispatch order, then
    /// run-time subscriptions.
    #[must_use]
    pub fn handlers(&self) -> Vec<HandlerInfo> {
        let mut infos = self.shared.selected.to_vec();
        infos.extend(self.shared.runtime_subs.infos());
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
            .field("handlers", &self.shared.selected.len())
            .field("catch_panics", &self.shared.settings.catch_panics)
            .field("shut_down", &self.shared.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Whether an event published at `nesting` is delivered: the bus is
    /// not shut down, the cascade is within its limit, and the thread's
    /// stack holds fewer than [`MAX_NESTED_PUBLISH`] deliveries.
    #[inline]
    pub(crate) fn accepts(&self, nesting: Nesting) -> bool {
        !self.is_shut_down()
            && nesting.depth <= self.settings.max_cascade_depth
            && nesting.frames < MAX_NESTED_PUBLISH
    }

    /// The report of an event the bus will not deliver: it is shut down,
    /// or the event would go past the cascade depth limit.
    #[inline]
    fn refuse<E: Event>(&self, event: &E, nesting: Nesting) -> Option<Report> {
        if self.accepts(nesting) {
            return None;
        }
        Some(self.refusal(event, nesting))
    }

    #[cold]
    fn refusal<E: Event>(&self, event: &E, nesting: Nesting) -> Report {
        let mut report = if self.is_shut_down() {
            Report::refused(
                E::NAME,
                FailureKind::ShutDown,
                format!("`{}` was not delivered: the bus is shut down", E::NAME),
            )
        } else if nesting.frames >= MAX_NESTED_PUBLISH {
            Report::refused(
                E::NAME,
                FailureKind::CascadeLimit,
                format!(
                    "`{}` was not delivered: nested publish deeper than {MAX_NESTED_PUBLISH}: \
                     use ctx.publish for follow-ups (a `bus.publish` inside a handler runs \
                     on the handler's stack)",
                    E::NAME
                ),
            )
        } else {
            let mut report = Report::new(E::NAME);
            report.failures_mut().push(cascade_depth_failure(
                E::NAME,
                self.settings.max_cascade_depth,
            ));
            report
        };
        for failure in report.failures_mut() {
            self.capture(failure, E::__meta(), event);
        }
        self.report_failures(report.failures());
        report
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn set_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }
}

impl Delivered {
    fn into_report(
        self,
        event_name: &'static str,
        id: LazyId,
        failures: Vec<HandlerFailure>,
    ) -> Report {
        Report::delivered(event_name, id, self.handled, self.scheduled, failures)
    }
}
