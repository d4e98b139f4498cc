//! Follow-up events: published with [`Context::publish`], delivered after
//! the current event's handlers, breadth-first, within the cascade limits.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::context::{Context, FollowUp, Parent};
use crate::dispatcher::Delivered;
use crate::dispatcher::Dispatcher;
use crate::envelope::LazyId;
use crate::event::Event;
use crate::event_fns::EventFns;
use crate::report::{EventRef, FailureKind, HandlerFailure};

impl Context {
    /// Publishes a follow-up event that belongs to this one: it is
    /// delivered after every handler of the current event has finished
    /// (breadth-first), with the causation id set to the current event and
    /// the correlation id inherited. Its failures appear in the report of
    /// the event that started the chain.
    ///
    /// A chain deeper than the bus's `max_cascade_depth`, or longer than
    /// its `max_cascade_events`, is stopped and reported as a failure.
    pub fn publish<E: Event>(&self, event: E) {
        self.push_follow_up(FollowUp::new(
            Box::new(event),
            E::__meta(),
            self.envelope().lineage(),
            self.depth() + 1,
            self.extensions().cloned(),
        ));
    }
}

/// The follow-ups of one root event, in the order they are delivered.
pub(crate) struct Cascade {
    queue: VecDeque<FollowUp>,
    delivered: usize,
}

impl Cascade {
    /// The cascade of a root event whose handlers published `follow_ups`.
    pub(crate) fn new(follow_ups: Vec<FollowUp>) -> Self {
        Self {
            queue: follow_ups.into(),
            delivered: 0,
        }
    }

    /// Delivers a root event on this thread with `deliver` (handed the
    /// failure list and the follow-up list), then the cascade it starts;
    /// returns what the root delivery counted and the chain's failures.
    pub(crate) fn deliver_sync(
        dispatcher: &Arc<Dispatcher>,
        deliver: impl FnOnce(&mut Vec<HandlerFailure>, &mut Vec<FollowUp>) -> Delivered,
    ) -> (Delivered, Vec<HandlerFailure>) {
        let mut failures = Vec::new();
        let mut follow_ups = Vec::new();
        let delivered = deliver(&mut failures, &mut follow_ups);
        Cascade::new(follow_ups).run_sync(dispatcher, &mut failures);
        (delivered, failures)
    }

    /// Delivers the follow-ups on this thread, and theirs in turn.
    fn run_sync(mut self, dispatcher: &Arc<Dispatcher>, failures: &mut Vec<HandlerFailure>) {
        let mut more = Vec::new();
        while let Some((fns, event, parent)) = self.next_erased(dispatcher, failures) {
            (fns.deliver_sync)(
                dispatcher,
                event,
                parent,
                &mut LazyId::default(),
                failures,
                &mut more,
            );
            self.queue.extend(more.drain(..));
        }
    }

    /// Delivers the follow-ups, awaiting their async handlers, and theirs
    /// in turn.
    pub(crate) async fn run_async(
        mut self,
        dispatcher: &Arc<Dispatcher>,
        failures: &mut Vec<HandlerFailure>,
    ) {
        let mut more = Vec::new();
        while let Some((fns, event, parent)) = self.next_erased(dispatcher, failures) {
            let mut id = LazyId::default();
            (fns.deliver_async)(dispatcher, event, parent, &mut id, failures, &mut more).await;
            self.queue.extend(more.drain(..));
        }
    }

    /// The next follow-up within the limits, taken apart for delivery by
    /// its type's functions.
    fn next_erased(
        &mut self,
        dispatcher: &Dispatcher,
        failures: &mut Vec<HandlerFailure>,
    ) -> Option<(&'static EventFns, Box<dyn Any + Send>, Parent)> {
        let follow_up = self.next(dispatcher, failures)?;
        let fns = EventFns::of_meta(follow_up.meta());
        let parent = follow_up.parent();
        Some((fns, follow_up.into_event(), parent))
    }

    /// The next follow-up to deliver; one past a limit is reported in
    /// `failures` instead.
    fn next(
        &mut self,
        dispatcher: &Dispatcher,
        failures: &mut Vec<HandlerFailure>,
    ) -> Option<FollowUp> {
        let limits = &dispatcher.settings;
        loop {
            let follow_up = self.queue.pop_front()?;
            if self.delivered >= limits.max_cascade_events {
                let dropped = self.queue.len() + 1;
                self.queue.clear();
                let mut failure = HandlerFailure::delivery(
                    FailureKind::CascadeLimit,
                    EventRef {
                        name: follow_up.meta().name(),
                        id: &LazyId::default(),
                    },
                    format!(
                        "the chain of follow-up events was stopped after {} events (max_cascade_events); \
                         {dropped} more were not delivered, starting with `{}`",
                        limits.max_cascade_events,
                        follow_up.meta().name()
                    ),
                );
                dispatcher.capture(&mut failure, follow_up.meta(), follow_up.event());
                failures.push(failure);
                return None;
            }
            if let Some(failure) =
                dispatcher.too_deep(follow_up.meta(), follow_up.event(), follow_up.depth())
            {
                failures.push(failure);
                continue;
            }
            self.delivered += 1;
            return Some(follow_up);
        }
    }
}
