//! The general delivery path: one event to its handlers (inline, spawned
//! or awaited, with a context when they read it, through the layers),
//! then the dead-event fallback; the follow-ups it collects go to the
//! cascade. Also the per-type functions of [`EventFns`], made here.

use std::any::Any;
use std::sync::Arc;

use crate::call::CallArgs;
use crate::context::{Context, States};
use crate::context::{FollowUp, Parent};
use crate::deferred::{DeliveryParts, Finished, JoinAll};
use crate::depth::DepthScope;
use crate::dispatcher::{Delivered, Dispatcher};
use crate::envelope::{Envelope, LazyId, Origin};
use crate::event::Event;
use crate::event_fns::EventFns;
use crate::handler::Mode;
#[cfg(feature = "tokio")]
use crate::journal::JournalEntry;
use crate::layer::BoxFuture;
use crate::meta::EventMeta;
#[cfg(feature = "tokio")]
use crate::record::EventRecord;
#[cfg(feature = "tokio")]
use crate::report::FailureKind;
use crate::report::{EventRef, FailureSink, HandlerFailure};
use crate::route::{build_typed, AnyRoute, ErasedRoute, RouteEntry};
use crate::route::{run_one, Deferred, TypedRoute};
use crate::selection::Selection;
use crate::subs::SlotSubs;

/// The event as a delivery holds it: owned when every handler runs inline,
/// shared when some outlive the call.
pub(crate) enum SharedOrOwned<E> {
    Owned(E),
    Shared(Arc<E>),
}

impl<E> From<E> for SharedOrOwned<E> {
    fn from(event: E) -> Self {
        Self::Owned(event)
    }
}

impl<E> SharedOrOwned<E> {
    fn get(&self) -> &E {
        match self {
            Self::Owned(event) => event,
            Self::Shared(event) => event,
        }
    }

    fn shared(&self) -> Option<&Arc<E>> {
        match self {
            Self::Owned(_) => None,
            Self::Shared(event) => Some(event),
        }
    }

    /// Shared, for handlers that outlive the call.
    fn share(self) -> Self {
        match self {
            Self::Owned(event) => Self::Shared(Arc::new(event)),
            shared @ Self::Shared(_) => shared,
        }
    }
}

/// The catch-all and `&DeadEvent` handlers one delivery runs: the bus's,
/// or those of the part of it a delivery from outside asked for.
#[derive(Clone, Copy)]
pub(crate) struct CatchAlls<'a> {
    /// For an event type without a route.
    fallback: Option<&'a ErasedRoute>,
    dead: Option<&'a ErasedRoute>,
}

impl<'a> CatchAlls<'a> {
    const NONE: Self = Self {
        fallback: None,
        dead: None,
    };

    fn of_bus(dispatcher: &'a Dispatcher) -> Self {
        Self {
            fallback: Some(&dispatcher.fallback),
            dead: Some(&dispatcher.dead),
        }
    }

    fn of(selection: &'a Selection) -> Self {
        Self {
            fallback: Some(&selection.fallback),
            dead: Some(&selection.dead),
        }
    }
}

/// Where the inline handlers of one delivery run: the event and what
/// goes with it.
pub(crate) struct InlineRun<'a, E> {
    pub(crate) meta: &'static EventMeta,
    pub(crate) event: &'a E,
    pub(crate) context: Option<&'a Context>,
    pub(crate) states: &'a States,
    pub(crate) catch_alls: CatchAlls<'a>,
    pub(crate) id: &'a LazyId,
    pub(crate) depth: u32,
}

impl<'a, E: Event> InlineRun<'a, E> {
    /// The inline run of a delivery with no context: a plain one.
    pub(crate) fn plain(
        dispatcher: &'a Dispatcher,
        event: &'a E,
        id: &'a LazyId,
        depth: u32,
    ) -> Self {
        Self {
            meta: E::__meta(),
            event,
            context: None,
            states: &dispatcher.states,
            catch_alls: CatchAlls::of_bus(dispatcher),
            id,
            depth,
        }
    }

    pub(crate) fn args(&self) -> CallArgs<'a> {
        CallArgs {
            meta: self.meta,
            event: self.event,
            context: self.context,
            states: self.states,
        }
    }

    pub(crate) fn sink<'s>(
        &self,
        dispatcher: &Dispatcher,
        failures: &'s mut Vec<HandlerFailure>,
    ) -> FailureSink<'s>
    where
        'a: 's,
    {
        let event: &'a dyn Any = self.event;
        FailureSink {
            event: EventRef {
                name: self.meta.name(),
                id: self.id,
            },
            failures,
            capture: dispatcher.captures().then_some((self.meta, event)),
        }
    }
}

/// The per-delivery state shared by the sync and async paths.
struct Delivery<'r, E> {
    meta: &'static EventMeta,
    states: &'r States,
    route: Option<&'r TypedRoute<E>>,
    catch_alls: CatchAlls<'r>,
    held: SharedOrOwned<E>,
    context: Option<Context>,
    id: &'r LazyId,
    depth: u32,
    /// The layers' spans around this delivery; deferred calls carry them.
    spans: Vec<tracing::Span>,
    /// The run-time handlers, taken before any handler runs: a
    /// subscription made meanwhile is not called by this delivery.
    subs: Option<SlotSubs>,
    /// Whether the sinks get the event's record.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    to_sinks: bool,
    /// Whether the journal gets the event's record.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    to_journal: bool,
    /// The journal stream it goes to, when not its name's.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    stream: Option<Arc<str>>,
}

impl Dispatcher {
    fn prepare<'r, E: Event>(
        self: &'r Arc<Self>,
        event: SharedOrOwned<E>,
        parent: Parent,
        id: &'r mut LazyId,
    ) -> Delivery<'r, E> {
        let meta = E::__meta();
        let Parent {
            lineage,
            depth,
            given,
            extensions,
            stream,
        } = parent;
        // A delivery from outside runs the handlers it asks for; their
        // layout is found once per delivery, by name.
        let selection = given
            .as_ref()
            .and_then(|given| given.only)
            .map(|only| self.selections.get(only));
        let (route, subs) = match selection {
            Some(selection) => (
                selection.and_then(|selection| selection.route::<E>(meta)),
                None,
            ),
            None => (self.route::<E>(), self.runtime_subs.snapshot(meta.slot())),
        };
        // The sinks and the journal get a record of every event of a type
        // they take that this bus accepts, but for one they have already
        // (sent when it was emitted, or relayed from the log) and one read
        // back from the log (`Replay`).
        let fresh = given
            .as_ref()
            .is_none_or(|given| given.envelope.origin != Origin::Replay);
        let journaled = self.journals(meta);
        // With a journal, the sinks' relays feed them from the log.
        let to_sinks = fresh
            && !journaled
            && self.records(meta)
            && given.as_ref().is_none_or(|given| !given.sent);
        let to_journal = fresh && journaled && given.as_ref().is_none_or(|given| !given.journaled);
        let reads_context = given.is_some()
            || extensions.is_some()
            || to_sinks
            || to_journal
            || self.settings.always_context
            || route.is_some_and(|route| route.needs_context)
            || self.runtime_subs.reads_envelope(meta.slot());
        let envelope = reads_context.then(|| {
            let sequence = self.next_sequence();
            match (given, &lineage) {
                (Some(given), _) => Envelope {
                    sequence,
                    ..given.envelope
                },
                (None, None) => Envelope::root(sequence, id.known_id()),
                (None, Some(lineage)) => Envelope::follow_up(lineage, sequence, id.known_id()),
            }
        });
        let deferred = route.is_some_and(|route| !route.deferred.is_empty())
            || subs
                .as_ref()
                .is_some_and(|subs| subs.iter().any(|sub| sub.is_async()));
        match &envelope {
            Some(envelope) => id.set(envelope.id),
            // Handlers that outlive the call report under the same id.
            None if deferred => {
                id.get();
            }
            None => {}
        }
        let held = if deferred { event.share() } else { event };
        let id: &'r LazyId = id;
        Delivery {
            meta,
            states: &self.states,
            route,
            catch_alls: match selection {
                Some(Some(selection)) => CatchAlls::of(selection),
                // A delivery for handlers this bus lacks runs none.
                Some(None) => CatchAlls::NONE,
                None => CatchAlls::of_bus(self),
            },
            held,
            spans: self.delivery_spans(meta, envelope.as_ref()),
            // Built in place: a context is larger than the moves the
            // compiler writes inline.
            context: envelope
                .map(|envelope| Context::new(envelope, self.context_handle(), depth, extensions)),
            id,
            depth,
            subs,
            to_sinks,
            to_journal,
            stream,
        }
    }

    /// Hands the record of the delivered event to the sinks and the
    /// journal (its handlers run here: `handled`); a full sink buffer or
    /// an event that cannot be written is a failure of the delivery. The
    /// journal's answer comes later: when `awaited`, returned to await;
    /// otherwise a failed commit is reported to the hooks.
    #[cfg(feature = "tokio")]
    fn record<E: Event>(
        &self,
        delivery: &Delivery<'_, E>,
        failures: &mut Vec<HandlerFailure>,
        awaited: bool,
    ) -> Option<(
        tokio::sync::oneshot::Receiver<crate::journaling::Committed>,
        Arc<EventRecord>,
    )> {
        if !(delivery.to_sinks || delivery.to_journal) {
            return None;
        }
        let context = delivery.context.as_ref()?;
        let event = delivery.held.get();
        let record = match EventRecord::encode(delivery.meta, event, context.envelope().clone()) {
            Ok(record) => Arc::new(record),
            Err(error) => {
                failures.push(HandlerFailure::delivery(
                    FailureKind::SinkFailed,
                    EventRef {
                        name: delivery.meta.name(),
                        id: delivery.id,
                    },
                    format!("the event was neither sent nor stored: {error}"),
                ));
                return None;
            }
        };
        if let (true, Some(sinks)) = (delivery.to_sinks, &self.sinks) {
            sinks.offer(delivery.meta, &record, failures);
        }
        let journaling = self.journaling.as_ref().filter(|_| delivery.to_journal)?;
        let stream = delivery
            .stream
            .as_deref()
            .map_or(std::borrow::Cow::Borrowed(delivery.meta.name()), |stream| {
                std::borrow::Cow::Owned(stream.to_owned())
            });
        let entry = JournalEntry::new(stream, Arc::clone(&record), true);
        if !awaited {
            journaling.submit_unawaited(entry, delivery.meta.name());
            return None;
        }
        Some((journaling.submit(entry, delivery.meta.name()), record))
    }

    /// Without tokio a bus has no sinks and no journal.
    #[cfg(not(feature = "tokio"))]
    #[allow(clippy::unused_self)] // the same call as with tokio
    fn record<E: Event>(&self, _: &Delivery<'_, E>, _: &mut Vec<HandlerFailure>, _: bool) {}

    /// Runs the inline handlers and run-time subscriptions of an event;
    /// returns how many of the event's own handlers ran.
    #[inline]
    pub(crate) fn run_handlers<E: Event>(
        &self,
        route: Option<&TypedRoute<E>>,
        runtime: Option<&SlotSubs>,
        inline: &InlineRun<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) -> usize {
        let stack = self.stack();
        let args = inline.args();
        let mut sink = inline.sink(self, failures);
        let _depth = DepthScope::enter(inline.depth);
        let mut handled = match route {
            Some(route) if route.is_plain() && stack.layers.is_empty() => {
                route.run_inline(inline.event, &args, stack.catch, &mut sink)
            }
            Some(route) => route.run_layered(inline.event, &args, stack, &mut sink),
            None => {
                if let Some(fallback) = inline.catch_alls.fallback {
                    fallback.run(&args, stack, &mut sink);
                }
                0
            }
        };
        if let Some(subs) = runtime {
            for sub in subs.iter().filter(|sub| !sub.is_async()) {
                let Some(_call) = sub.enter() else {
                    continue;
                };
                if sub.observer {
                    // A recorder sees the event and its envelope; it is no
                    // handler, and cannot fail the delivery.
                    let _ = sub.call(inline.event, inline.context);
                    continue;
                }
                handled += 1;
                if stack.layers.is_empty() && inline.context.is_none() {
                    run_one(&sub.info, stack.catch, &mut sink, || {
                        sub.call(inline.event, None)
                    });
                } else {
                    let event = sink.event();
                    let failure = stack.call_sync(&sub.info, event, inline.context, &|| {
                        sub.call(inline.event, inline.context)
                    });
                    if let Some(failure) = failure {
                        sink.push(failure);
                    }
                }
            }
        }
        handled
    }

    /// The one rule for dead events: when none of the event's own handlers
    /// ran or was scheduled (`calls == 0`), the `&DeadEvent` handlers get it.
    pub(crate) fn run_dead_if_unhandled<E: Event>(
        &self,
        calls: usize,
        inline: &InlineRun<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) {
        let Some(dead) = inline.catch_alls.dead else {
            return;
        };
        if calls > 0 || dead.is_empty() {
            return;
        }
        let args = inline.args();
        let mut sink = inline.sink(self, failures);
        let _depth = DepthScope::enter(inline.depth);
        dead.run(&args, self.stack(), &mut sink);
    }

    /// Delivers `event` on this thread; async handlers are spawned.
    pub(crate) fn deliver_sync<E: Event>(
        self: &Arc<Self>,
        event: E,
        parent: Parent,
        id: &mut LazyId,
        failures: &mut Vec<HandlerFailure>,
        follow_ups: &mut Vec<FollowUp>,
    ) -> Delivered {
        let delivery = self.prepare(SharedOrOwned::Owned(event), parent, id);
        self.record(&delivery, failures, false);
        let _spans = enter(&delivery.spans);
        let mut handled = self.run_inline(&delivery, failures);
        let mut scheduled = 0;
        if let (Some(route), Some(event)) = (delivery.route, delivery.held.shared()) {
            for deferred in &*route.deferred {
                if deferred.filter.is_some_and(|filter| !filter(event)) {
                    continue;
                }
                let parts = delivery.parts();
                self.spawn_counted(
                    deferred,
                    event,
                    &parts,
                    (&mut handled, &mut scheduled),
                    failures,
                );
            }
        }
        if let (Some(subs), Some(event)) = (&delivery.subs, delivery.held.shared()) {
            let parts = delivery.parts();
            for sub in subs.iter() {
                match self.spawn_sub(sub, event, &parts) {
                    None => {}
                    Some(Ok(())) => scheduled += 1,
                    Some(Err(failure)) => {
                        handled += 1;
                        failures.push(failure);
                    }
                }
            }
        }
        self.finish(&delivery, handled, scheduled, failures, follow_ups)
    }

    /// Delivers `event`, awaiting its async and blocking handlers
    /// concurrently; background handlers are spawned.
    pub(crate) async fn deliver_async<E: Event>(
        self: &Arc<Self>,
        event: SharedOrOwned<E>,
        parent: Parent,
        id: &mut LazyId,
        failures: &mut Vec<HandlerFailure>,
        follow_ups: &mut Vec<FollowUp>,
    ) -> Delivered {
        // Boxed: this future is nested once per `publish_async` inside an
        // async handler, and a delivery (its context inline) held across
        // the awaits would put each level's copy on the caller's stack.
        let delivery = Box::new(self.prepare(event, parent, id));
        #[cfg(feature = "tokio")]
        let committed = self.record(&delivery, failures, true);
        #[cfg(not(feature = "tokio"))]
        self.record(&delivery, failures, true);
        let mut handled = {
            let _spans = enter(&delivery.spans);
            self.run_inline(&delivery, failures)
        };
        let mut scheduled = 0;
        let mut awaited: Vec<BoxFuture<'static, Finished>> = Vec::new();
        if let (Some(route), Some(event)) = (delivery.route, delivery.held.shared()) {
            let parts = delivery.parts();
            for deferred in &*route.deferred {
                if deferred.filter.is_some_and(|filter| !filter(event)) {
                    continue;
                }
                if deferred.mode() == Mode::Background {
                    self.spawn_counted(
                        deferred,
                        event,
                        &parts,
                        (&mut handled, &mut scheduled),
                        failures,
                    );
                    continue;
                }
                handled += 1;
                match self.deferred_call(deferred, event, &parts) {
                    Ok(future) => awaited.push(future),
                    Err(failure) => failures.push(failure),
                }
            }
        }
        if let (Some(subs), Some(event)) = (&delivery.subs, delivery.held.shared()) {
            let parts = delivery.parts();
            for sub in subs.iter() {
                if let Some(future) = self.sub_call(sub, event, &parts) {
                    handled += 1;
                    awaited.push(future);
                }
            }
        }
        if !awaited.is_empty() {
            // Follow-ups of the inline handlers come first, then those of
            // the awaited ones in handler order.
            if let Some(context) = &delivery.context {
                follow_ups.extend(context.take_follow_ups());
            }
            for finished in JoinAll::new(awaited).await {
                failures.extend(finished.failure);
                follow_ups.extend(finished.follow_ups);
            }
        }
        #[cfg(feature = "tokio")]
        if let Some((committed, record)) = committed {
            let error = match committed.await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some("the journal's committer has stopped".to_owned()),
            };
            if let Some(error) = error {
                failures.push(HandlerFailure::not_stored(
                    record,
                    delivery.meta.name(),
                    &error,
                ));
            }
        }
        self.finish(&delivery, handled, scheduled, failures, follow_ups)
    }

    /// Delivers a root event, awaiting its async handlers, then the
    /// cascade it starts; returns what the root delivery counted and the
    /// chain's failures. For the queue worker: `publish_async` writes it
    /// out (see there).
    #[cfg(feature = "tokio")]
    pub(crate) async fn deliver_root_async<E: Event>(
        self: &Arc<Self>,
        event: SharedOrOwned<E>,
        parent: Parent,
        id: &mut LazyId,
    ) -> (Delivered, Vec<HandlerFailure>) {
        let mut failures = Vec::new();
        let mut follow_ups = Vec::new();
        let delivered = self
            .deliver_async(event, parent, id, &mut failures, &mut follow_ups)
            .await;
        crate::cascade::Cascade::new(follow_ups)
            .run_async(self, &mut failures)
            .await;
        (delivered, failures)
    }

    /// Spawns a call nobody awaits and counts it as scheduled. A call that
    /// was due and failed to start counts as handled, so the event is not
    /// taken for dead.
    fn spawn_counted<E: Event>(
        self: &Arc<Self>,
        deferred: &Deferred<E>,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
        (handled, scheduled): (&mut usize, &mut usize),
        failures: &mut Vec<HandlerFailure>,
    ) {
        match self.spawn_detached(deferred, event, parts) {
            Ok(()) => *scheduled += 1,
            Err(failure) => {
                *handled += 1;
                failures.push(failure);
            }
        }
    }

    fn run_inline<E: Event>(
        &self,
        delivery: &Delivery<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) -> usize {
        self.run_handlers(
            delivery.route,
            delivery.subs.as_ref(),
            &delivery.inline_run(),
            failures,
        )
    }

    /// The spans the layers open around one delivery, outermost first.
    fn delivery_spans(
        &self,
        meta: &'static EventMeta,
        envelope: Option<&Envelope>,
    ) -> Vec<tracing::Span> {
        if self.layers.is_empty() {
            return Vec::new();
        }
        self.layers
            .iter()
            .filter_map(|layer| layer.delivery_span(meta.name(), envelope))
            .collect()
    }

    fn finish<E: Event>(
        &self,
        delivery: &Delivery<'_, E>,
        handled: usize,
        scheduled: usize,
        failures: &mut Vec<HandlerFailure>,
        follow_ups: &mut Vec<FollowUp>,
    ) -> Delivered {
        self.run_dead_if_unhandled(handled + scheduled, &delivery.inline_run(), failures);
        if let Some(context) = &delivery.context {
            follow_ups.extend(context.take_follow_ups());
        }
        Delivered { handled, scheduled }
    }
}

impl<E: Event> Delivery<'_, E> {
    fn inline_run(&self) -> InlineRun<'_, E> {
        InlineRun {
            meta: self.meta,
            event: self.held.get(),
            context: self.context.as_ref(),
            states: self.states,
            catch_alls: self.catch_alls,
            id: self.id,
            depth: self.depth,
        }
    }

    fn parts(&self) -> DeliveryParts<'_> {
        DeliveryParts {
            meta: self.meta,
            context: self.context.as_ref(),
            id: self.id,
            depth: self.depth,
            spans: &self.spans,
        }
    }
}

/// Enters each span, outermost first, until the guards drop.
fn enter(spans: &[tracing::Span]) -> Vec<tracing::span::Entered<'_>> {
    spans.iter().map(tracing::Span::enter).collect()
}

/// The functions of `E` for its metadata (see [`EventFns`]);
/// `#[derive(Event)]` keeps them in one `static` per type.
#[doc(hidden)]
#[must_use]
pub const fn event_fns<E: Event>() -> EventFns {
    EventFns {
        build_route: build_route::<E>,
        share_route: share_route::<E>,
        deliver_sync: deliver_boxed_sync::<E>,
        deliver_async: deliver_boxed_async::<E>,
    }
}

fn build_route<E: Event>(entries: Vec<RouteEntry>) -> AnyRoute {
    Box::new(build_typed::<E>(entries))
}

fn share_route<E: Event>(entries: Vec<RouteEntry>) {
    // Called once per process, under the builder's lock; again only for
    // the types not built yet, if an earlier attempt panicked half-way.
    E::__route().fill(|| build_typed::<E>(entries));
}

/// What a boxed event handed to [`EventFns`] is: always of the type the
/// functions were made for, since both come from the same metadata.
const BOXED: &str = "an event reaches the functions of its own type's metadata";

fn deliver_boxed_sync<E: Event>(
    dispatcher: &Arc<Dispatcher>,
    event: Box<dyn Any + Send>,
    parent: Parent,
    id: &mut LazyId,
    failures: &mut Vec<HandlerFailure>,
    follow_ups: &mut Vec<FollowUp>,
) -> Delivered {
    let event = event.downcast::<E>().expect(BOXED);
    dispatcher.deliver_sync(*event, parent, id, failures, follow_ups)
}

fn deliver_boxed_async<'a, E: Event>(
    dispatcher: &'a Arc<Dispatcher>,
    event: Box<dyn Any + Send>,
    parent: Parent,
    id: &'a mut LazyId,
    failures: &'a mut Vec<HandlerFailure>,
    follow_ups: &'a mut Vec<FollowUp>,
) -> BoxFuture<'a, Delivered> {
    let event = event.downcast::<E>().expect(BOXED);
    Box::pin(dispatcher.deliver_async(
        SharedOrOwned::Owned(*event),
        parent,
        id,
        failures,
        follow_ups,
    ))
}
