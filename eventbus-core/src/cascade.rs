//! Follow-up events: published with `Context::publish`, delivered after
//! the current event's handlers, breadth-first, within the cascade limits.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::dispatcher::Dispatcher;
use crate::envelope::{LazyId, Lineage};
use crate::event::Event;
use crate::layer::BoxFuture;
use crate::meta::EventMeta;
use crate::report::{cascade_depth_failure, EventRef, FailureKind, HandlerFailure};

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

    fn meta(&self) -> &'static EventMeta;

    fn event(&self) -> &dyn Any;

    fn deliver_sync(
        self: Box<Self>,
        shared: &Arc<Dispatcher>,
        parent: Parent,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    );

    fn deliver_async<'a>(
        self: Box<Self>,
        shared: &'a Arc<Dispatcher>,
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

    fn meta(&self) -> &'static EventMeta {
        E::__meta()
    }

    fn event(&self) -> &dyn Any {
        &self.0
    }

    fn deliver_sync(
        self: Box<Self>,
        shared: &Arc<Dispatcher>,
        parent: Parent,
        failures: &mut Vec<HandlerFailure>,
        cascade: &mut Cascade,
    ) {
        shared.deliver_sync(self.0, parent, &LazyId::default(), failures, cascade);
    }

    fn deliver_async<'a>(
        self: Box<Self>,
        shared: &'a Arc<Dispatcher>,
        parent: Parent,
        failures: &'a mut Vec<HandlerFailure>,
        cascade: &'a mut Cascade,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let id = LazyId::default();
            shared
                .deliver_async(self.0.into(), parent, &id, failures, cascade)
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
    pub(crate) fn extend(&mut self, follow_ups: Vec<FollowUp>) {
        self.queue.extend(follow_ups);
    }

    /// The next follow-up to deliver; one past a limit is reported in
    /// `failures` instead.
    fn next(
        &mut self,
        shared: &Dispatcher,
        failures: &mut Vec<HandlerFailure>,
    ) -> Option<FollowUp> {
        let limits = &shared.settings;
        loop {
            let follow_up = self.queue.pop_front()?;
            if self.delivered >= limits.max_cascade_events {
                let dropped = self.queue.len() + 1;
                self.queue.clear();
                let mut failure = HandlerFailure::delivery(
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
                );
                shared.capture(
                    &mut failure,
                    follow_up.event.meta(),
                    follow_up.event.event(),
                );
                failures.push(failure);
                return None;
            }
            if follow_up.depth > limits.max_cascade_depth {
                let mut failure =
                    cascade_depth_failure(follow_up.event.name(), limits.max_cascade_depth);
                shared.capture(
                    &mut failure,
                    follow_up.event.meta(),
                    follow_up.event.event(),
                );
                failures.push(failure);
                continue;
            }
            self.delivered += 1;
            return Some(follow_up);
        }
    }
}

impl Dispatcher {
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
}
