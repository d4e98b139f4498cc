//! The state every clone of one [`Bus`](crate::Bus) shares: its routes,
//! settings, layers and hooks, and the work it has in flight; what every
//! delivery reads.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::context::{BusHandle, HandleTarget, States};
use crate::depth::{Nesting, MAX_NESTED_PUBLISH};
use crate::envelope::LazyId;
use crate::event::Event;
use crate::handler::HandlerInfo;
use crate::hooks::Hooks;
use crate::invoke::Stack;
use crate::layer::Layer;
use crate::meta::EventMeta;
use crate::report::{EventRef, FailureKind, HandlerFailure, Report};
use crate::route::{AnyRoute, ErasedRoute, TypedRoute};
use crate::selection::Selections;
use crate::subs::RuntimeSubs;

/// Limits and switches fixed when the bus is built.
pub(crate) struct Settings {
    pub(crate) catch_panics: bool,
    pub(crate) max_cascade_depth: u32,
    pub(crate) max_cascade_events: usize,
    /// Every event gets a context: a layer reads envelopes, or a
    /// catch-all or `&DeadEvent` handler reads the context.
    pub(crate) always_context: bool,
    /// No layer, and no catch-all or `&DeadEvent` handler reads the
    /// context: the fast paths may run (`plain.rs`).
    pub(crate) plain: bool,
}

/// What one delivery counted, for the root event's report.
pub(crate) struct Delivered {
    pub(crate) handled: usize,
    pub(crate) scheduled: usize,
}

impl Delivered {
    pub(crate) fn into_report(
        self,
        event_name: &'static str,
        id: LazyId,
        failures: Vec<HandlerFailure>,
    ) -> Report {
        Report::delivered(event_name, id, self.handled, self.scheduled, failures)
    }
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
pub(crate) struct Dispatcher {
    pub(crate) routes: Routes,
    /// For an event type the registry never saw: the catch-alls only.
    pub(crate) fallback: ErasedRoute,
    pub(crate) dead: ErasedRoute,
    /// The groups and handlers a delivery from outside may ask for alone.
    pub(crate) selections: Selections,
    /// Every link-time handler of this bus, in the registry's order.
    pub(crate) selected: Box<[HandlerInfo]>,
    pub(crate) runtime_subs: RuntimeSubs,
    pub(crate) settings: Settings,
    pub(crate) states: Arc<States>,
    /// Outermost first.
    pub(crate) layers: Box<[Arc<dyn Layer>]>,
    /// `layers` and the retry/timeout layers added for handlers' own
    /// options; used for those handlers only.
    pub(crate) policy_layers: Box<[Arc<dyn Layer>]>,
    pub(crate) hooks: Arc<Hooks>,
    sequence: AtomicU64,
    /// Live `Bus` values; the queue closes when the last one drops.
    handles: AtomicUsize,
    shut_down: AtomicBool,
    #[cfg(feature = "tokio")]
    pub(crate) tasks: Arc<crate::tasks::Tasks<crate::events::Events<Dispatcher>>>,
    #[cfg(feature = "tokio")]
    pub(crate) queue: crate::events::Queue,
    /// Where records of accepted events go out; `None` without sinks.
    #[cfg(feature = "tokio")]
    pub(crate) sinks: Option<crate::sinks::Sinks>,
    /// How long `shutdown` waits for the sinks to send what they hold.
    #[cfg(feature = "tokio")]
    pub(crate) shutdown_timeout: std::time::Duration,
    /// The journal every accepted event is appended to; `None` without.
    #[cfg(feature = "tokio")]
    pub(crate) journaling: Option<crate::journaling::Journaling>,
}

/// How the background queue is set up.
#[cfg(feature = "tokio")]
pub(crate) struct QueueSettings {
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    pub(crate) capacity: usize,
    pub(crate) workers: usize,
    pub(crate) sinks: Option<crate::sinks::Sinks>,
    pub(crate) shutdown_timeout: std::time::Duration,
    pub(crate) journaling: Option<crate::journaling::Journaling>,
}

impl Dispatcher {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        routes: Routes,
        fallback: ErasedRoute,
        dead: ErasedRoute,
        selections: Selections,
        selected: Box<[HandlerInfo]>,
        settings: Settings,
        states: States,
        layers: Box<[Arc<dyn Layer>]>,
        policy_layers: Box<[Arc<dyn Layer>]>,
        hooks: Arc<Hooks>,
        #[cfg(feature = "tokio")] queue: QueueSettings,
    ) -> Self {
        Self {
            routes,
            fallback,
            dead,
            selections,
            selected,
            runtime_subs: RuntimeSubs::new(),
            settings,
            states: Arc::new(states),
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
            queue: crate::events::Queue::default(),
            #[cfg(feature = "tokio")]
            sinks: queue.sinks,
            #[cfg(feature = "tokio")]
            shutdown_timeout: queue.shutdown_timeout,
            #[cfg(feature = "tokio")]
            journaling: queue.journaling,
        }
    }

    /// Whether a sink wants the records of `meta`'s type.
    #[inline]
    #[cfg_attr(not(feature = "tokio"), allow(clippy::unused_self))]
    pub(crate) fn records(&self, meta: &EventMeta) -> bool {
        #[cfg(feature = "tokio")]
        return self.sinks.as_ref().is_some_and(|sinks| sinks.wants(meta));
        #[cfg(not(feature = "tokio"))]
        {
            let _ = meta;
            false
        }
    }

    /// Whether events of `meta`'s type are appended to a journal.
    #[inline]
    #[cfg_attr(not(feature = "tokio"), allow(clippy::unused_self))]
    pub(crate) fn journals(&self, meta: &EventMeta) -> bool {
        #[cfg(feature = "tokio")]
        return self.journaling.is_some() && !meta.is_local();
        #[cfg(not(feature = "tokio"))]
        {
            let _ = meta;
            false
        }
    }

    /// A counted handle on this bus, for a context.
    pub(crate) fn context_handle(self: &Arc<Self>) -> BusHandle {
        BusHandle::new(Arc::clone(self) as Arc<dyn HandleTarget>)
    }

    /// Counts a new `Bus` handle.
    pub(crate) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a dropped `Bus` handle. At the last one the queue takes no
    /// more events, and its workers end once they have delivered what is
    /// queued.
    pub(crate) fn drop_handle(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            #[cfg(feature = "tokio")]
            self.close_queue();
        }
    }

    /// Takes no new events; the workers end once the queue is drained.
    #[cfg(feature = "tokio")]
    pub(crate) fn close_queue(&self) {
        self.tasks.ledger.close();
        self.queue.has_items.notify_waiters();
    }

    #[inline]
    pub(crate) fn route<E: Event>(&self) -> Option<&TypedRoute<E>> {
        match &self.routes {
            Routes::Shared => E::__route().get(),
            Routes::Own(routes) => routes
                .get(E::__meta().slot())
                .and_then(Option::as_ref)
                .and_then(|route| route.downcast_ref::<TypedRoute<E>>()),
        }
    }

    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether accepted events go out of the process: to sinks, or to a
    /// journal.
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn is_outward(&self) -> bool {
        self.sinks.is_some() || self.journaling.is_some()
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

    /// [`Dispatcher::report_failures`] from a destructor: a hook's panic is always
    /// caught there, since a panic out of a destructor that runs while a
    /// panic unwinds aborts the process.
    pub(crate) fn report_failures_in_drop(&self, failures: &[HandlerFailure]) {
        self.report_failures_catching(failures, true);
    }

    fn report_failures_catching(&self, failures: &[HandlerFailure], catch: bool) {
        self.hooks.report(failures, catch);
    }
}

impl Dispatcher {
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

/// The result of work on the blocking pool, or why it ended early.
pub(crate) type BlockingResult<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

#[cfg(feature = "tokio")]
impl Dispatcher {
    /// Reports events nobody will deliver: to `on_error` and the dead
    /// letters, each as [`FailureKind::Abandoned`], and one `tracing`
    /// error with the count.
    pub(crate) fn abandon(&self, events: crate::events::Events<Dispatcher>) {
        let failures = events.abandon(self);
        if failures.is_empty() {
            return;
        }
        tracing::error!(
            target: "eventbus",
            abandoned = failures.len(),
            "{} queued event(s) were never delivered: the bus's queue stopped first (the runtime \
             that ran it ended); await `bus.shutdown()` before the runtime ends",
            failures.len()
        );
        self.report_failures_in_drop(&failures);
    }
}

#[cfg(feature = "tokio")]
impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Events still queued now have no worker and never will: the
        // runtime that ran it ended. They are reported, not lost.
        let events = self.tasks.ledger.take_all();
        self.abandon(events);
    }
}

impl Dispatcher {
    /// Whether an event published at `nesting` is delivered: the bus is
    /// not shut down, the cascade is within its limit, and the thread's
    /// stack holds fewer than [`MAX_NESTED_PUBLISH`] deliveries.
    #[inline]
    pub(crate) fn accepts(&self, nesting: Nesting) -> bool {
        !self.is_shut_down()
            && nesting.depth <= self.settings.max_cascade_depth
            && nesting.frames < MAX_NESTED_PUBLISH
    }

    /// The failure of an event that a chain of events took deeper than
    /// `max_cascade_depth`, if `depth` is; the event is kept for the dead
    /// letters when they want it.
    pub(crate) fn too_deep(
        &self,
        meta: &'static EventMeta,
        event: &dyn Any,
        depth: u32,
    ) -> Option<HandlerFailure> {
        let limit = self.settings.max_cascade_depth;
        if depth <= limit {
            return None;
        }
        let mut failure = cascade_depth_failure(meta.name(), limit);
        self.capture(&mut failure, meta, event);
        Some(failure)
    }

    /// The report of an event the bus will not deliver: it is shut down,
    /// or the event would go past the cascade depth limit.
    #[inline]
    pub(crate) fn refuse<E: Event>(&self, event: &E, nesting: Nesting) -> Option<Report> {
        self.refuse_erased(E::__meta(), event, nesting)
    }

    /// [`Dispatcher::refuse`] for an event seen through its metadata.
    #[inline]
    pub(crate) fn refuse_erased(
        &self,
        meta: &'static EventMeta,
        event: &dyn Any,
        nesting: Nesting,
    ) -> Option<Report> {
        if self.accepts(nesting) {
            return None;
        }
        Some(self.refusal(meta, event, nesting))
    }

    #[cold]
    fn refusal(&self, meta: &'static EventMeta, event: &dyn Any, nesting: Nesting) -> Report {
        let name = meta.name();
        let mut report = if self.is_shut_down() {
            Report::refused(
                name,
                FailureKind::ShutDown,
                format!("`{name}` was not delivered: the bus is shut down"),
            )
        } else if nesting.frames >= MAX_NESTED_PUBLISH {
            Report::refused(
                name,
                FailureKind::CascadeLimit,
                format!(
                    "`{name}` was not delivered: nested publish deeper than {MAX_NESTED_PUBLISH}: \
                     use ctx.publish for follow-ups (a `bus.publish` inside a handler runs \
                     on the handler's stack)"
                ),
            )
        } else {
            let mut report = Report::new(name);
            report
                .failures_mut()
                .push(cascade_depth_failure(name, self.settings.max_cascade_depth));
            report
        };
        for failure in report.failures_mut() {
            self.capture(failure, meta, event);
        }
        self.report_failures(report.failures());
        report
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn set_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }
}

/// The failure of an event that a chain of events took past the cascade
/// depth limit.
fn cascade_depth_failure(event_name: &'static str, limit: u32) -> HandlerFailure {
    HandlerFailure::delivery(
        FailureKind::CascadeLimit,
        EventRef {
            name: event_name,
            id: &LazyId::default(),
        },
        format!(
            "`{event_name}` was not delivered: the chain of events that led to it went deeper \
             than the cascade depth limit of {limit} (max_cascade_depth); a handler may be \
             publishing in a loop"
        ),
    )
}

/// A context's handle on the bus counts as a `Bus` does.
impl HandleTarget for Dispatcher {
    fn acquire(&self) {
        self.add_handle();
    }

    fn release(&self) {
        self.drop_handle();
    }

    fn states(&self) -> &States {
        &self.states
    }
}
