//! The fast paths: `publish` and the queue worker deliver an event whose
//! handlers are all plain (inline, unfiltered, without a context) with no
//! envelope, no follow-ups and nothing to share; `publish_async` awaits
//! plain async handlers on the caller's task. Anything else takes the
//! general path in `dispatch`.

use std::sync::Arc;

use crate::call::{CallArgs, HandlerFuture};
use crate::deferred::{event_ref, JoinAll, Joined};
use crate::depth::{DepthScope, Nesting};
use crate::dispatch::InlineRun;
use crate::dispatcher::Dispatcher;
use crate::envelope::LazyId;
use crate::event::Event;
use crate::handler::BoxError;
use crate::invoke::{AtDepth, Guarded};
use crate::report::{HandlerFailure, Report};
use crate::route::{Stopped, TypedRoute};

/// A plain `publish_async` while its async handlers run.
struct AsyncPlain {
    id: LazyId,
    handled: usize,
    failures: Vec<HandlerFailure>,
}

/// What [`Dispatcher::try_deliver_plain`] came to.
pub(crate) enum Plain {
    /// Every handler succeeded and at least one of the event's own ran:
    /// the caller builds the report, where it returns it.
    Handled(usize),
    /// Delivered, with a failure or to catch-alls only; the failures are
    /// not yet reported to the hooks. Boxed: `Plain` then fits in two
    /// registers, and the common case never copies a report through the
    /// stack.
    Finished(Box<Report>),
    /// Not plain: the general path must deliver it.
    General,
}

impl Dispatcher {
    /// Delivers `event` when every handler of its type runs inline, none
    /// reads the context, no layer is installed and the bus has no
    /// run-time subscription: no envelope, no follow-ups, nothing to share.
    /// `None` when it is not that simple.
    ///
    /// `Ok(handled)` with `handled > 0` is the whole story; anything else
    /// goes to [`Dispatcher::finish_plain`]. The caller builds the report, so
    /// it is written once, where it is returned.
    #[inline]
    fn deliver_plain<E: Event>(
        &self,
        event: &E,
        current: Nesting,
        depth: u32,
    ) -> Option<Result<usize, Box<Stopped>>> {
        let meta = E::__meta();
        let route = self.route::<E>()?;
        if !route.is_plain() || !self.settings.plain || !self.runtime_subs.is_empty() {
            return None;
        }
        let args = CallArgs {
            meta,
            event,
            context: None,
            states: &self.states,
        };
        let _depth = DepthScope::enter_from(current, depth);
        Some(route.run_until_failure(event, &args, self.settings.catch_panics))
    }

    /// Delivers `event` when its route, the layers and the run-time
    /// subscriptions make it plain (see [`Plain`]): the one chain of
    /// fast-path checks that `publish` and the queue worker both take.
    /// `current` is where this thread stands, as
    /// [`nesting`](crate::depth::nesting) read it.
    #[inline]
    pub(crate) fn try_deliver_plain<E: Event>(
        &self,
        event: &E,
        current: Nesting,
        depth: u32,
    ) -> Plain {
        match self.deliver_plain(event, current, depth) {
            Some(Ok(handled)) if handled > 0 => Plain::Handled(handled),
            Some(outcome) => Plain::Finished(Box::new(self.finish_plain(event, depth, outcome))),
            // Only run-time handlers keep a plain route off the first fast
            // path; without them, go straight to the general one.
            None if self.runtime_subs.is_empty() => Plain::General,
            None => match self.deliver_plain_with_subs(event, depth) {
                Some(report) => Plain::Finished(Box::new(report)),
                None => Plain::General,
            },
        }
    }

    /// The rest of [`Dispatcher::deliver_plain`] after a handler failed, or
    /// when only catch-alls saw the event. The failures are not settled.
    #[cold]
    #[inline(never)]
    fn finish_plain<E: Event>(
        &self,
        event: &E,
        depth: u32,
        outcome: Result<usize, Box<Stopped>>,
    ) -> Report {
        let id = LazyId::default();
        let mut failures = Vec::new();
        let inline = InlineRun::plain(self, event, &id, depth);
        let handled = match (outcome, self.route::<E>()) {
            (Ok(handled), _) => handled,
            (Err(stopped), Some(route)) => {
                self.resume_plain(route, *stopped, &inline, &mut failures)
            }
            (Err(_), None) => unreachable!("a plain delivery has a route"),
        };
        self.run_dead_if_unhandled(handled, &inline, &mut failures);
        Report::assemble(E::NAME, id, handled, failures)
    }

    /// Records the failure that stopped a plain delivery and runs the
    /// handlers after it; returns how many of the event's own handlers ran.
    #[cold]
    fn resume_plain<E: Event>(
        &self,
        route: &TypedRoute<E>,
        stopped: Stopped,
        inline: &InlineRun<'_, E>,
        failures: &mut Vec<HandlerFailure>,
    ) -> usize {
        let args = inline.args();
        let mut sink = inline.sink(self, failures);
        let _depth = DepthScope::enter(inline.depth);
        route.resume(
            stopped,
            inline.event,
            &args,
            self.settings.catch_panics,
            &mut sink,
        )
    }

    /// Whether `publish_async` of `E` can take [`Dispatcher::publish_async_plain`].
    #[inline]
    pub(crate) fn is_async_plain<E: Event>(&self) -> bool {
        self.settings.plain
            && self.runtime_subs.is_empty()
            && self.route::<E>().is_some_and(TypedRoute::is_async_plain)
    }

    /// `publish_async` when [`Dispatcher::is_async_plain`]: the sync handlers
    /// run inline, then the async ones are polled together on this task,
    /// with no envelope, context, span or spawned task. The failures are
    /// settled.
    ///
    /// The async handlers' futures borrow the event, which this future
    /// owns: no share of it per handler.
    pub(crate) async fn publish_async_plain<E: Event>(
        self: &Arc<Self>,
        event: E,
        depth: u32,
    ) -> Report {
        let started = self.start_async_plain(&event, depth);
        let Some(route) = self.route::<E>() else {
            unreachable!("an async-plain delivery has a route")
        };
        let calls = route.async_calls(&event, &self.states, self.settings.catch_panics);
        let results = AtDepth {
            inner: JoinAll::new(calls),
            depth,
        }
        .await;
        self.finish_async_plain(&event, started, depth, results)
    }

    /// Runs the inline handlers of a plain `publish_async`.
    fn start_async_plain<E: Event>(&self, event: &E, depth: u32) -> AsyncPlain {
        let meta = E::__meta();
        let Some(route) = self.route::<E>() else {
            unreachable!("an async-plain delivery has a route")
        };
        let id = LazyId::default();
        let mut failures = Vec::new();
        let handled = if route.has_inline() {
            let catch = self.settings.catch_panics;
            let args = CallArgs {
                meta,
                event,
                context: None,
                states: &self.states,
            };
            let outcome = {
                let _depth = DepthScope::enter(depth);
                route.run_until_failure(event, &args, catch)
            };
            match outcome {
                Ok(handled) => handled,
                Err(stopped) => {
                    let inline = InlineRun::plain(self, event, &id, depth);
                    self.resume_plain(route, *stopped, &inline, &mut failures)
                }
            }
        } else {
            // Only async handlers: no inline run to guard.
            0
        };
        AsyncPlain {
            id,
            handled,
            failures,
        }
    }

    fn finish_async_plain<E: Event>(
        &self,
        event: &E,
        started: AsyncPlain,
        depth: u32,
        results: Joined<Guarded<HandlerFuture<'_>>, Result<(), BoxError>>,
    ) -> Report {
        let AsyncPlain {
            id,
            mut handled,
            mut failures,
        } = started;
        let meta = E::__meta();
        handled += results.len();
        if let Some(route) = self.route::<E>() {
            for (deferred, result) in route.deferred.iter().zip(results) {
                if let Err(error) = result {
                    let mut failure =
                        HandlerFailure::from_call(&deferred.info, event_ref(meta, &id), error, 1);
                    self.capture(&mut failure, meta, event);
                    failures.push(failure);
                }
            }
        }
        let inline = InlineRun::plain(self, event, &id, depth);
        self.run_dead_if_unhandled(handled, &inline, &mut failures);
        self.report_failures(&failures);
        Report::assemble(E::NAME, id, handled, failures)
    }

    /// Delivers `event` like [`Dispatcher::deliver_plain`] on a bus that has
    /// run-time subscriptions; `None` when it is not that simple. The
    /// failures are not settled.
    #[inline(never)]
    fn deliver_plain_with_subs<E: Event>(&self, event: &E, depth: u32) -> Option<Report> {
        let meta = E::__meta();
        let route = self.route::<E>()?;
        if !route.is_plain()
            || !self.settings.plain
            || self.runtime_subs.reads_envelope(meta.slot())
            || self.runtime_subs.has_async(meta.slot())
        {
            return None;
        }
        let id = LazyId::default();
        let mut failures = Vec::new();
        let inline = InlineRun::plain(self, event, &id, depth);
        let subs = self.runtime_subs.snapshot(meta.slot());
        let handled = self.run_handlers(Some(route), subs.as_ref(), &inline, &mut failures);
        self.run_dead_if_unhandled(handled, &inline, &mut failures);
        Some(Report::assemble(E::NAME, id, handled, failures))
    }
}
