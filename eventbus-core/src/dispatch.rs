//! Delivering one event to its handlers, and then its follow-ups,
//! breadth-first, within the cascade limits.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::bus::{Bus, Shared};
use crate::context::Context;
use crate::envelope::{Envelope, LazyId, Lineage, Uuid};
use crate::event::{Event, EventMeta};
use crate::handler::{BoxError, HandlerInfo, Mode};
use crate::registry::{CallArgs, HandlerFuture};
use crate::report::{take_panic, EventRef, FailureKind, FailureSink, HandlerFailure};
use crate::route::{run_one, Deferred, DeferredCall, TypedRoute};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

thread_local! {
    /// The cascade depth of the event whose handler runs on this thread.
    static DEPTH: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The depth of an event published now: one below the event being handled
/// on this thread (or in this task), 0 outside any handler.
#[inline]
pub(crate) fn nested_depth() -> u32 {
    DEPTH.with(|depth| depth.get().map_or(0, |depth| depth + 1))
}

/// Marks the current thread as running handlers of an event at `depth`,
/// until dropped.
struct DepthScope(Option<u32>);

impl DepthScope {
    #[inline]
    fn enter(depth: u32) -> Self {
        Self(DEPTH.with(|current| current.replace(Some(depth))))
    }
}

impl Drop for DepthScope {
    #[inline]
    fn drop(&mut self) {
        DEPTH.with(|current| current.set(self.0));
    }
}

/// Where an event sits in its chain.
#[derive(Clone, Copy)]
pub(crate) struct Parent {
    /// `None` for a root event.
    pub(crate) lineage: Option<Lineage>,
    pub(crate) depth: u32,
}

impl Parent {
    pub(crate) fn root(depth: u32) -> Self {
        Self {
            lineage: None,
            depth,
        }
    }
}

/// What one delivery counted, for the root event's report.
pub(crate) struct Delivered {
    pub(crate) handled: usize,
    pub(crate) scheduled: usize,
}

/// An event published with `Context::publish`, waiting for its turn.
pub(crate) struct FollowUp {
    event: Box<dyn PendingEvent>,
    lineage: Lineage,
    depth: u32,
}

impl FollowUp {
    pub(crate) fn new<E: Event>(event: E, lineage: Lineage, depth: u32) -> Self {
        Self {
            event: Box::new(Pending(event)),
            lineage,
            depth,
        }
    }

    fn parent(&self) -> Parent {
        Parent {
            lineage: Some(self.lineage),
            depth: self.depth,
        }
    }
}

/// A follow-up event with its type erased.
trait PendingEvent: Send {
    fn name(&self) -> &'static str;

    fn deliver_sync(
        self: Box<Self>,
        shared: &Arc<Shared>,
        parent: Parent,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    );

    fn deliver_async<'a>(
        self: Box<Self>,
        shared: &'a Arc<Shared>,
        parent: Parent,
        failures: &'a mut Vec<HandlerFailure>,
        cascade: &'a mut Cascade,
    ) -> BoxFuture<'a, ()>;
}

struct Pending<E>(E);

impl<E: Event> PendingEvent for Pending<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn deliver_sync(
        self: Box<Self>,
        shared: &Arc<Shared>,
        parent: Parent,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) {
        shared.deliver_sync(self.0, parent, &LazyId::default(), failures, cascade);
    }

    fn deliver_async<'a>(
        self: Box<Self>,
        shared: &'a Arc<Shared>,
        parent: Parent,
        failures: &'a mut Vec<HandlerFailure>,
        cascade: &'a mut Cascade,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let id = LazyId::default();
            shared
                .deliver_async(self.0, parent, &id, failures, cascade)
                .await;
        })
    }
}

/// The follow-ups of one root event, in the order they are delivered.
#[derive(Default)]
pub(crate) struct Cascade {
    queue: VecDeque<FollowUp>,
    delivered: usize,
}

impl Cascade {
    fn extend(&mut self, follow_ups: Vec<FollowUp>) {
        self.queue.extend(follow_ups);
    }

    /// The next follow-up to deliver; one past a limit is reported in
    /// `failures` instead.
    fn next(&mut self, shared: &Shared, failures: &mut Vec<HandlerFailure>) -> Option<FollowUp> {
        let limits = &shared.settings;
        loop {
            let follow_up = self.queue.pop_front()?;
            if self.delivered >= limits.max_cascade_events {
                let dropped = self.queue.len() + 1;
                self.queue.clear();
                failures.push(HandlerFailure::delivery(
                    FailureKind::CascadeLimit,
                    EventRef {
                        name: follow_up.event.name(),
                        id: &LazyId::default(),
                    },
                    format!(
                        "the chain of follow-up events was stopped after {} events (max_cascade_events); \
                         {dropped} more were not delivered, starting with `{}`",
                        limits.max_cascade_events,
                        follow_up.event.name()
                    ),
                ));
                return None;
            }
            if follow_up.depth > limits.max_cascade_depth {
                failures.push(cascade_depth_failure(
                    follow_up.event.name(),
                    limits.max_cascade_depth,
                ));
                continue;
            }
            self.delivered += 1;
            return Some(follow_up);
        }
    }
}

pub(crate) fn cascade_depth_failure(event_name: &'static str, limit: u32) -> HandlerFailure {
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

/// The event as a delivery holds it: owned when every handler runs inline,
/// shared when some outlive the call.
enum Held<E> {
    Owned(E),
    Shared(Arc<E>),
}

impl<E> Held<E> {
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
}

/// Where the inline handlers of one delivery run: the event and what
/// goes with it.
struct Place<'a, E> {
    meta: &'static EventMeta,
    event: &'a E,
    context: Option<&'a Context>,
    id: &'a LazyId,
    depth: u32,
}

impl<'a, E: Event> Place<'a, E> {
    fn args(&self) -> CallArgs<'a> {
        CallArgs {
            meta: self.meta,
            event: self.event,
            context: self.context,
        }
    }

    fn sink<'s>(&self, failures: &'s mut Vec<HandlerFailure>) -> FailureSink<'s>
    where
        'a: 's,
    {
        FailureSink {
            event: EventRef {
                name: self.meta.name(),
                id: self.id,
            },
            failures,
        }
    }
}

/// The per-delivery state shared by the sync and async paths.
struct Delivery<'r, E> {
    meta: &'static EventMeta,
    route: Option<&'r TypedRoute<E>>,
    held: Held<E>,
    context: Option<Context>,
    id: &'r LazyId,
    depth: u32,
}

impl Shared {
    fn prepare<'r, E: Event>(
        self: &'r Arc<Self>,
        event: E,
        parent: Parent,
        id: &'r LazyId,
    ) -> Delivery<'r, E> {
        let meta = E::__meta();
        let route = self.route::<E>(meta.slot());
        let context = route.filter(|route| route.needs_context).map(|_| {
            let sequence = self.next_sequence();
            let envelope = match &parent.lineage {
                None => Envelope::root(sequence),
                Some(lineage) => Envelope::follow_up(lineage, sequence),
            };
            Context::new(envelope, Bus::from_shared(self), parent.depth)
        });
        let deferred = route.is_some_and(|route| !route.deferred.is_empty());
        match &context {
            Some(context) => id.set(context.envelope().id),
            // Handlers that outlive the call report under the same id.
            None if deferred => {
                id.get();
            }
            None => {}
        }
        let held = if deferred {
            Held::Shared(Arc::new(event))
        } else {
            Held::Owned(event)
        };
        Delivery {
            meta,
            route,
            held,
            context,
            id,
            depth: parent.depth,
        }
    }

    /// Runs the inline handlers and run-time subscriptions of `delivery`;
    /// returns how many of the event's own handlers ran.
    fn run_inline<E: Event>(
        &self,
        delivery: &Delivery<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) -> usize {
        let place = Place {
            meta: delivery.meta,
            event: delivery.held.get(),
            context: delivery.context.as_ref(),
            id: delivery.id,
            depth: delivery.depth,
        };
        self.run_handlers(delivery.route, &place, failures)
    }

    /// Delivers `event` when every handler of its type runs inline and
    /// none reads the context: no envelope, no follow-ups, nothing to
    /// share. `None` when the route is not that simple.
    #[inline]
    pub(crate) fn deliver_plain<E: Event>(
        &self,
        event: &E,
        depth: u32,
        id: &LazyId,
        failures: &mut Vec<HandlerFailure>,
    ) -> Option<usize> {
        let meta = E::__meta();
        let route = self.route::<E>(meta.slot())?;
        if route.needs_context || !route.deferred.is_empty() {
            return None;
        }
        let place = Place {
            meta,
            event,
            context: None,
            id,
            depth,
        };
        let handled = self.run_handlers(Some(route), &place, failures);
        if handled == 0 {
            self.run_dead(&place, failures);
        }
        Some(handled)
    }

    #[inline]
    fn route<E: Event>(&self, slot: usize) -> Option<&TypedRoute<E>> {
        self.routes
            .get(slot)
            .and_then(Option::as_ref)
            .and_then(|route| route.downcast_ref::<TypedRoute<E>>())
    }

    #[inline]
    fn run_handlers<E: Event>(
        &self,
        route: Option<&TypedRoute<E>>,
        place: &Place<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) -> usize {
        // Taken before any handler runs: a subscription made meanwhile is
        // not called by this delivery.
        let runtime = self.runtime_subs.snapshot(place.meta.slot());
        let catch = self.settings.catch_panics;
        let args = place.args();
        let mut sink = place.sink(failures);
        let _depth = DepthScope::enter(place.depth);
        let mut handled = if let Some(route) = route {
            route.run_inline(place.event, &args, catch, &mut sink)
        } else {
            self.fallback.run(&args, catch, &mut sink);
            0
        };
        if let Some(subs) = runtime {
            for sub in subs.iter() {
                let Some(_call) = sub.enter() else {
                    continue;
                };
                handled += 1;
                run_one(&sub.info, catch, &mut sink, || sub.call(place.event));
            }
        }
        handled
    }

    fn run_dead<E: Event>(&self, place: &Place<'_, E>, failures: &mut Vec<HandlerFailure>) {
        if self.dead.is_empty() {
            return;
        }
        let args = place.args();
        let mut sink = place.sink(failures);
        let _depth = DepthScope::enter(place.depth);
        self.dead.run(&args, self.settings.catch_panics, &mut sink);
    }

    /// Delivers `event` on this thread; async handlers are spawned.
    pub(crate) fn deliver_sync<E: Event>(
        self: &Arc<Self>,
        event: E,
        parent: Parent,
        id: &LazyId,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) -> Delivered {
        let delivery = self.prepare(event, parent, id);
        let mut handled = self.run_inline(&delivery, failures);
        let mut scheduled = 0;
        if let (Some(route), Some(event)) = (delivery.route, delivery.held.shared()) {
            for deferred in &*route.deferred {
                match self.spawn_detached(deferred, event, &delivery) {
                    Ok(()) => scheduled += 1,
                    // A call that was due and failed to start counts as
                    // handled, so the event is not taken for dead.
                    Err(failure) => {
                        handled += 1;
                        failures.push(failure);
                    }
                }
            }
        }
        self.finish(delivery, handled, scheduled, failures, cascade)
    }

    /// Delivers `event`, awaiting its async and blocking handlers
    /// concurrently; background handlers are spawned.
    pub(crate) async fn deliver_async<E: Event>(
        self: &Arc<Self>,
        event: E,
        parent: Parent,
        id: &LazyId,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) -> Delivered {
        let delivery = self.prepare(event, parent, id);
        let mut handled = self.run_inline(&delivery, failures);
        let mut scheduled = 0;
        let mut awaited: Vec<(&HandlerInfo, BoxFuture<'static, Finished>)> = Vec::new();
        if let (Some(route), Some(event)) = (delivery.route, delivery.held.shared()) {
            for deferred in &*route.deferred {
                if deferred.mode() == Mode::Background {
                    match self.spawn_detached(deferred, event, &delivery) {
                        Ok(()) => scheduled += 1,
                        Err(failure) => {
                            handled += 1;
                            failures.push(failure);
                        }
                    }
                    continue;
                }
                handled += 1;
                match self.start_awaited(deferred, event, &delivery) {
                    Ok(future) => awaited.push((&deferred.info, future)),
                    Err(failure) => failures.push(failure),
                }
            }
        }
        if !awaited.is_empty() {
            let (infos, futures): (Vec<_>, Vec<_>) = awaited.into_iter().unzip();
            let results = JoinAll::new(futures).await;
            // Follow-ups of the inline handlers come first, then those of
            // the awaited ones in handler order.
            if let Some(context) = &delivery.context {
                cascade.extend(context.take_follow_ups());
            }
            for (info, finished) in infos.into_iter().zip(results) {
                let event = EventRef {
                    name: delivery.meta.name(),
                    id: delivery.id,
                };
                if let Some(failure) = finished.outcome.into_failure(info, event) {
                    failures.push(failure);
                }
                cascade.extend(finished.follow_ups);
            }
        }
        self.finish(delivery, handled, scheduled, failures, cascade)
    }

    fn finish<E: Event>(
        &self,
        delivery: Delivery<'_, E>,
        handled: usize,
        scheduled: usize,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) -> Delivered {
        if handled == 0 && scheduled == 0 {
            let place = Place {
                meta: delivery.meta,
                event: delivery.held.get(),
                context: delivery.context.as_ref(),
                id: delivery.id,
                depth: delivery.depth,
            };
            self.run_dead(&place, failures);
        }
        if let Some(context) = &delivery.context {
            cascade.extend(context.take_follow_ups());
        }
        Delivered { handled, scheduled }
    }

    /// Delivers the follow-ups in `cascade` on this thread.
    pub(crate) fn run_cascade_sync(
        self: &Arc<Self>,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) {
        while let Some(follow_up) = cascade.next(self, failures) {
            let parent = follow_up.parent();
            follow_up
                .event
                .deliver_sync(self, parent, failures, cascade);
        }
    }

    /// Delivers the follow-ups in `cascade`, awaiting their async handlers.
    pub(crate) async fn run_cascade_async(
        self: &Arc<Self>,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) {
        while let Some(follow_up) = cascade.next(self, failures) {
            let parent = follow_up.parent();
            follow_up
                .event
                .deliver_async(self, parent, failures, cascade)
                .await;
        }
    }

    /// Starts an inline async or blocking handler whose result the caller
    /// awaits.
    // The failure is the cold path; boxing it would not make the common
    // one faster.
    #[allow(clippy::result_large_err)]
    fn start_awaited<E: Event>(
        self: &Arc<Self>,
        deferred: &Deferred<E>,
        event: &Arc<E>,
        delivery: &Delivery<'_, E>,
    ) -> Result<BoxFuture<'static, Finished>, HandlerFailure> {
        let context = delivery
            .context
            .as_ref()
            .map(|context| Arc::new(context.fork()));
        match deferred.call {
            DeferredCall::Async(call) => {
                let future = Guarded {
                    inner: call(Arc::clone(event), context.clone()),
                    depth: delivery.depth,
                    catch: self.settings.catch_panics,
                };
                Ok(Box::pin(async move {
                    let outcome = future.await;
                    Finished::new(outcome, context.as_deref())
                }))
            }
            DeferredCall::Sync(call) => {
                let (shared, event, meta, depth) = (
                    Arc::clone(self),
                    Arc::clone(event),
                    delivery.meta,
                    delivery.depth,
                );
                let work = move || {
                    let outcome = shared.call_sync(call, &event, meta, context.as_deref(), depth);
                    Finished::new(outcome, context.as_deref())
                };
                let handle = self
                    .spawn_blocking(work)
                    .ok_or_else(|| Self::no_runtime(&deferred.info, delivery))?;
                Ok(Box::pin(async move {
                    handle.await.unwrap_or_else(|error| Finished {
                        outcome: Outcome::Panicked(error),
                        follow_ups: Vec::new(),
                    })
                }))
            }
        }
    }

    /// Spawns a handler whose result nobody awaits: it reports its
    /// failures, and those of its follow-ups, as unobserved.
    #[allow(clippy::result_large_err)]
    fn spawn_detached<E: Event>(
        self: &Arc<Self>,
        deferred: &Deferred<E>,
        event: &Arc<E>,
        delivery: &Delivery<'_, E>,
    ) -> Result<(), HandlerFailure> {
        let context = delivery
            .context
            .as_ref()
            .map(|context| Arc::new(context.fork()));
        let (shared, info, meta, depth) = (
            Arc::clone(self),
            deferred.info.clone(),
            delivery.meta,
            delivery.depth,
        );
        let id = delivery.id.get();
        let started = match (deferred.call, deferred.mode()) {
            (DeferredCall::Async(call), _) => {
                let future = Guarded {
                    inner: call(Arc::clone(event), context.clone()),
                    depth,
                    catch: self.settings.catch_panics,
                };
                self.spawn(async move {
                    let finished = Finished::new(future.await, context.as_deref());
                    shared.settle_detached(finished, &info, meta, id).await;
                })
            }
            (DeferredCall::Sync(call), Mode::Blocking) => {
                let event = Arc::clone(event);
                self.spawn_blocking(move || {
                    let outcome = shared.call_sync(call, &event, meta, context.as_deref(), depth);
                    let finished = Finished::new(outcome, context.as_deref());
                    shared.settle_detached_sync(finished, &info, meta, id);
                })
                .map(drop)
            }
            (DeferredCall::Sync(call), _) => {
                let event = Arc::clone(event);
                self.spawn(async move {
                    let outcome = shared.call_sync(call, &event, meta, context.as_deref(), depth);
                    let finished = Finished::new(outcome, context.as_deref());
                    shared.settle_detached(finished, &info, meta, id).await;
                })
            }
        };
        started.ok_or_else(|| Self::no_runtime(&deferred.info, delivery))
    }

    fn call_sync<E: Event>(
        &self,
        call: crate::registry::TypedCall<E>,
        event: &E,
        meta: &'static EventMeta,
        context: Option<&Context>,
        depth: u32,
    ) -> Outcome {
        let args = CallArgs {
            meta,
            event,
            context,
        };
        let _depth = DepthScope::enter(depth);
        if !self.settings.catch_panics {
            return Outcome::from(call(event, &args));
        }
        match catch_unwind(AssertUnwindSafe(|| call(event, &args))) {
            Ok(result) => Outcome::from(result),
            Err(payload) => Outcome::Panicked(take_panic(payload)),
        }
    }

    async fn settle_detached(
        self: &Arc<Self>,
        finished: Finished,
        info: &HandlerInfo,
        meta: &'static EventMeta,
        id: Uuid,
    ) {
        let mut failures = Vec::new();
        let mut cascade = Cascade::default();
        Self::record(finished, info, meta, id, &mut failures, &mut cascade);
        self.run_cascade_async(&mut failures, &mut cascade).await;
        self.unobserved(failures);
    }

    fn settle_detached_sync(
        self: &Arc<Self>,
        finished: Finished,
        info: &HandlerInfo,
        meta: &'static EventMeta,
        id: Uuid,
    ) {
        let mut failures = Vec::new();
        let mut cascade = Cascade::default();
        Self::record(finished, info, meta, id, &mut failures, &mut cascade);
        self.run_cascade_sync(&mut failures, &mut cascade);
        self.unobserved(failures);
    }

    fn record(
        finished: Finished,
        info: &HandlerInfo,
        meta: &'static EventMeta,
        id: Uuid,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) {
        let id = LazyId::known(id);
        let event = EventRef {
            name: meta.name(),
            id: &id,
        };
        if let Some(failure) = finished.outcome.into_failure(info, event) {
            failures.push(failure);
        }
        cascade.extend(finished.follow_ups);
    }

    fn no_runtime<E>(info: &HandlerInfo, delivery: &Delivery<'_, E>) -> HandlerFailure {
        HandlerFailure::delivery(
            FailureKind::NoRuntime,
            EventRef {
                name: delivery.meta.name(),
                id: delivery.id,
            },
            format!(
                "the {} {} handler {} was not run: no tokio runtime is running on this thread \
                 and none was given with `BusBuilder::runtime`; publish from inside a runtime, \
                 or give the bus one",
                info.mode(),
                info.kind(),
                info.handler_name()
            ),
        )
    }
}

/// How one awaited or detached handler call ended.
pub(crate) enum Outcome {
    Ok,
    Failed(BoxError),
    Panicked(String),
}

impl From<Result<(), BoxError>> for Outcome {
    fn from(result: Result<(), BoxError>) -> Self {
        match result {
            Ok(()) => Self::Ok,
            Err(error) => Self::Failed(error),
        }
    }
}

impl Outcome {
    fn into_failure(self, info: &HandlerInfo, event: EventRef<'_>) -> Option<HandlerFailure> {
        match self {
            Self::Ok => None,
            Self::Failed(error) => Some(HandlerFailure::from_error(info, event, error)),
            Self::Panicked(message) => Some(HandlerFailure::from_panic(info, event, message)),
        }
    }
}

/// A finished call and the follow-ups it published.
pub(crate) struct Finished {
    outcome: Outcome,
    follow_ups: Vec<FollowUp>,
}

impl Finished {
    fn new(outcome: Outcome, context: Option<&Context>) -> Self {
        Self {
            outcome,
            follow_ups: context.map(Context::take_follow_ups).unwrap_or_default(),
        }
    }
}

/// An async handler's future, polled with the cascade depth of its event
/// set (so `bus.publish` inside it counts toward the limit) and its panics
/// caught.
struct Guarded {
    inner: HandlerFuture,
    depth: u32,
    catch: bool,
}

impl Future for Guarded {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Outcome> {
        let _depth = DepthScope::enter(self.depth);
        if !self.catch {
            return self.inner.as_mut().poll(cx).map(Outcome::from);
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Outcome::from),
            Err(payload) => Poll::Ready(Outcome::Panicked(take_panic(payload))),
        }
    }
}

/// Polls every future until all have finished; their outputs in order.
struct JoinAll<T> {
    futures: Vec<Option<BoxFuture<'static, T>>>,
    outputs: Vec<Option<T>>,
}

impl<T> JoinAll<T> {
    fn new(futures: Vec<BoxFuture<'static, T>>) -> Self {
        let outputs = futures.iter().map(|_| None).collect();
        Self {
            futures: futures.into_iter().map(Some).collect(),
            outputs,
        }
    }
}

impl<T> Unpin for JoinAll<T> {}

impl<T> Future for JoinAll<T> {
    type Output = Vec<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Vec<T>> {
        let this = &mut *self;
        let mut pending = false;
        for (slot, output) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
    }
}
