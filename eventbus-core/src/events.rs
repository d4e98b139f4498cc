//! The events waiting in a bus's queue: one queue per event type, and
//! the order they were emitted in. The worker that delivers them is in
//! `queue`; the counts that `idle` and `shutdown` read are in the
//! [`Ledger`](crate::ledger::Ledger), which holds these events under its
//! lock.
//!
//! `H` is whatever delivers them (the bus's dispatcher), a parameter so
//! that this storage does not depend on it.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::ledger::Batch;
use crate::report::HandlerFailure;

/// Why a queue has an event where its order list says it has one.
pub(crate) const QUEUED: &str = "the order list names only queued events";

/// How many events wait in a queue by default.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;

/// The async part of one queued event's delivery, awaited by the worker.
pub(crate) type QueuedDelivery = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The events of one type waiting in a queue, in the order they were
/// emitted. One per event type, kept from batch to batch, so a queued
/// event costs no allocation of its own.
pub(crate) trait SlotQueue<H>: Send {
    fn as_any(&mut self) -> &mut dyn Any;

    /// An empty queue of the same type.
    fn empty_like(&self) -> Box<dyn SlotQueue<H>>;

    /// Takes the oldest event and delivers it on the worker: at once when
    /// every handler of the event is sync, otherwise through the returned
    /// future.
    fn deliver_next(&mut self, host: &Arc<H>) -> Option<QueuedDelivery>;

    /// Takes the oldest event and reports it as abandoned.
    fn abandon_next(&mut self, host: &H) -> HandlerFailure;

    /// Moves the oldest event to the back of `into`, a queue of the same
    /// type.
    fn move_front_into(&mut self, into: &mut dyn SlotQueue<H>);

    /// Moves every event of this queue to the front of `into`, a queue of
    /// the same type.
    fn requeue_into(&mut self, into: &mut dyn SlotQueue<H>);
}

/// Queued events: their order, and each one in the queue of its type.
pub(crate) struct Events<H> {
    /// The event slot of the queued events in emit order, as runs of
    /// events of one slot: a queue of one event type writes one run, not
    /// a word per event.
    order: VecDeque<Run>,
    /// How many events are queued.
    len: usize,
    /// Indexed by event slot.
    queues: Vec<Option<Box<dyn SlotQueue<H>>>>,
}

/// `count` events in a row of the type at `slot`.
#[derive(Clone, Copy)]
struct Run {
    slot: usize,
    count: usize,
}

impl<H: 'static> Events<H> {
    /// Queues one more event at `slot`: `put` adds it to the slot's
    /// queue, which `new_queue` makes if the slot has none yet.
    pub(crate) fn push(
        &mut self,
        slot: usize,
        new_queue: impl FnOnce() -> Box<dyn SlotQueue<H>>,
        put: impl FnOnce(&mut dyn SlotQueue<H>),
    ) {
        if self.queues.len() <= slot {
            self.queues.resize_with(slot + 1, || None);
        }
        put(&mut **self.queues[slot].get_or_insert_with(new_queue));
        self.push_order(slot);
    }

    fn push_order(&mut self, slot: usize) {
        self.len += 1;
        match self.order.back_mut() {
            Some(last) if last.slot == slot => last.count += 1,
            _ => self.order.push_back(Run { slot, count: 1 }),
        }
    }

    /// The slot of the oldest event, taken off the order.
    fn pop_order(&mut self) -> Option<usize> {
        let first = self.order.front_mut()?;
        let slot = first.slot;
        first.count -= 1;
        if first.count == 0 {
            self.order.pop_front();
        }
        self.len -= 1;
        Some(slot)
    }

    /// The queue of the oldest event's type, whose next event it is.
    pub(crate) fn next_queue(&mut self) -> Option<&mut dyn SlotQueue<H>> {
        let slot = self.pop_order()?;
        Some(self.queues[slot].as_deref_mut().expect(QUEUED))
    }

    /// Reports every event as abandoned, oldest first.
    pub(crate) fn abandon(mut self, host: &H) -> Vec<HandlerFailure> {
        let mut failures = Vec::with_capacity(self.len());
        while let Some(queue) = self.next_queue() {
            failures.push(queue.abandon_next(host));
        }
        failures
    }
}

impl<H: 'static> Batch for Events<H> {
    fn len(&self) -> usize {
        self.len
    }

    fn move_front(&mut self, into: &mut Self, max: usize) {
        if max >= self.len() && into.order.is_empty() {
            // All of them: swap buffers, so both keep their capacity.
            std::mem::swap(self, into);
            return;
        }
        for _ in 0..max.min(self.len()) {
            let slot = self.pop_order().expect(QUEUED);
            let from = self.queues[slot].as_deref_mut().expect(QUEUED);
            if into.queues.len() <= slot {
                into.queues.resize_with(slot + 1, || None);
            }
            let to = into.queues[slot].get_or_insert_with(|| from.empty_like());
            from.move_front_into(&mut **to);
            into.push_order(slot);
        }
    }

    fn put_back(&mut self, into: &mut Self) {
        put_in_front(&mut self.order, &mut into.order);
        into.len += std::mem::take(&mut self.len);
        if into.queues.len() < self.queues.len() {
            into.queues.resize_with(self.queues.len(), || None);
        }
        for (from, to) in self.queues.iter_mut().zip(&mut into.queues) {
            match (from.as_mut(), to.as_mut()) {
                (Some(from), Some(to)) => from.requeue_into(&mut **to),
                (Some(_), None) => *to = from.take(),
                (None, _) => {}
            }
        }
    }
}

/// Moves every item of `from` to the front of `into`, keeping the order of
/// both.
pub(crate) fn put_in_front<T>(from: &mut VecDeque<T>, into: &mut VecDeque<T>) {
    let mut front = std::mem::take(from);
    front.append(into);
    *into = front;
}

impl<H> Default for Events<H> {
    fn default() -> Self {
        Self {
            order: VecDeque::new(),
            len: 0,
            queues: Vec::new(),
        }
    }
}

/// What wakes the queue's workers and its waiting `emit` calls; the
/// counts behind them are in the bus's ledger.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) has_items: Notify,
    pub(crate) has_room: Notify,
}
