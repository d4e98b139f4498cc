//! The background queue: [`Bus::emit`] and [`Bus::try_emit`] hand an event
//! to a bounded queue and return; a worker task delivers it.
//!
//! Nothing accepted is dropped: a full queue makes `emit` wait and
//! `try_emit` hand the event back, and `shutdown` delivers what is queued
//! before it returns.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::bus::{Bus, Shared};
use crate::cascade::{cascade_depth_failure, Cascade};
use crate::dispatch::{nested_depth, Parent};
use crate::envelope::LazyId;
use crate::error::{EmitError, EmitErrorKind};
use crate::event::Event;
use crate::tasks::InFlight;

/// How many events wait in a queue by default.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;

type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The events of one type waiting in a queue, in the order they were
/// emitted. One per event type, kept from batch to batch, so a queued
/// event costs no allocation of its own.
trait SlotQueue: Send {
    fn as_any(&mut self) -> &mut dyn Any;

    /// Takes the oldest event and delivers it on the worker: at once when
    /// every handler of the event is sync, otherwise through the returned
    /// future.
    fn deliver_next(&mut self, shared: &Arc<Shared>) -> Option<Delivery>;

    /// Moves every event of this queue to the front of `into`, a queue of
    /// the same type.
    fn requeue_into(&mut self, into: &mut dyn SlotQueue);
}

struct Entry<E> {
    event: E,
    depth: u32,
}

struct Typed<E> {
    entries: VecDeque<Entry<E>>,
}

const SLOT_TYPE: &str = "a queue slot holds the events of its slot's type";
const QUEUED: &str = "the order list names only queued events";

impl<E: Event> SlotQueue for Typed<E> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn deliver_next(&mut self, shared: &Arc<Shared>) -> Option<Delivery> {
        let entry = self.entries.pop_front().expect(QUEUED);
        entry.deliver(shared)
    }

    fn requeue_into(&mut self, into: &mut dyn SlotQueue) {
        let into = into.as_any().downcast_mut::<Self>().expect(SLOT_TYPE);
        let mut entries = std::mem::take(&mut self.entries);
        entries.append(&mut into.entries);
        into.entries = entries;
    }
}

impl<E: Event> Entry<E> {
    fn deliver(self, shared: &Arc<Shared>) -> Option<Delivery> {
        let Entry { event, depth } = self;
        // An event emitted by a handler counts toward the cascade depth
        // like one published there, so an emit loop stops too.
        if depth > shared.settings.max_cascade_depth {
            let mut failure = cascade_depth_failure(E::NAME, shared.settings.max_cascade_depth);
            shared.capture(&mut failure, E::__meta(), &event);
            shared.unobserved(vec![failure]);
            return None;
        }
        let report = match shared.deliver_plain(&event, depth) {
            Some(Ok(handled)) if handled > 0 => return None,
            Some(outcome) => Some(shared.finish_plain(&event, depth, outcome)),
            None => shared.deliver_plain_with_subs(&event, depth),
        };
        if let Some(report) = report {
            if !report.is_ok() {
                shared.unobserved(report.into_failures());
            }
            return None;
        }
        let id = LazyId::default();
        let mut failures = Vec::new();
        if shared.all_inline::<E>() {
            let mut cascade = Cascade::default();
            shared.deliver_sync(event, Parent::root(depth), &id, &mut failures, &mut cascade);
            shared.run_cascade_sync(&mut failures, &mut cascade);
            shared.unobserved(failures);
            return None;
        }
        let shared = Arc::clone(shared);
        Some(Box::pin(async move {
            let mut failures = Vec::new();
            let mut cascade = Cascade::default();
            let id = LazyId::default();
            shared
                .deliver_async(event, Parent::root(depth), &id, &mut failures, &mut cascade)
                .await;
            shared.run_cascade_async(&mut failures, &mut cascade).await;
            shared.unobserved(failures);
        }))
    }
}

/// Queued events: their order, and each one in the queue of its type.
#[derive(Default)]
struct Events {
    /// The event slot of each queued event, in emit order.
    order: VecDeque<usize>,
    /// Indexed by event slot.
    queues: Vec<Option<Box<dyn SlotQueue>>>,
}

impl Events {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn push<E: Event>(&mut self, entry: Entry<E>) {
        let slot = E::__meta().slot();
        if self.queues.len() <= slot {
            self.queues.resize_with(slot + 1, || None);
        }
        let queue = self.queues[slot].get_or_insert_with(|| {
            Box::new(Typed::<E> {
                entries: VecDeque::new(),
            })
        });
        let typed = queue.as_any().downcast_mut::<Typed<E>>().expect(SLOT_TYPE);
        typed.entries.push_back(entry);
        self.order.push_back(slot);
    }

    /// The queue of the oldest event's type, whose next event it is.
    fn next_queue(&mut self) -> Option<&mut dyn SlotQueue> {
        let slot = self.order.pop_front()?;
        Some(self.queues[slot].as_deref_mut().expect(QUEUED))
    }

    /// Moves every event to the front of `into`, keeping their order.
    fn requeue_into(&mut self, into: &mut Self) {
        let mut order = std::mem::take(&mut self.order);
        order.append(&mut into.order);
        into.order = order;
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

struct State {
    events: Events,
    /// No new event is accepted; those already waiting for room still are.
    closed: bool,
    /// `emit` calls waiting for room.
    waiting: usize,
    worker_running: bool,
}

/// A bounded queue drained by one worker task, so events emitted from one
/// task are delivered in the order they were emitted.
pub(crate) struct Queue {
    state: Mutex<State>,
    capacity: usize,
    /// Set when an event is queued into an empty queue (or a stopped
    /// worker's batch is put back), cleared when the worker takes the
    /// batch: lets the worker look without the lock.
    has_events: AtomicBool,
    /// Set while the worker sleeps on `has_items`: only then does a
    /// producer pay for waking it.
    sleeping: AtomicBool,
    has_items: Notify,
    has_room: Notify,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                events: Events::default(),
                closed: false,
                waiting: 0,
                worker_running: false,
            }),
            capacity: capacity.max(1),
            has_events: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            has_items: Notify::new(),
            has_room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes no new events; the worker ends once the queue is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.has_items.notify_one();
    }

    /// Whether events are queued or waiting for room.
    pub(crate) fn is_busy(&self) -> bool {
        let state = self.lock();
        !state.events.is_empty() || state.waiting > 0
    }
}

impl Shared {
    /// Whether every handler of `E` runs inline, so a queued `E` can be
    /// delivered without a future.
    fn all_inline<E: Event>(&self) -> bool {
        self.route::<E>()
            .is_none_or(|route| route.deferred.is_empty())
    }

    /// Queues `event` if there is room; hands it back otherwise.
    fn enqueue<E: Event>(
        self: &Arc<Self>,
        state: &mut State,
        event: E,
    ) -> Result<(), EmitError<E>> {
        if !state.worker_running {
            let Some(runtime) = self.tasks.runtime() else {
                return Err(EmitError::new(EmitErrorKind::NoRuntime, event));
            };
            runtime.spawn(run_worker(Arc::clone(self)));
            state.worker_running = true;
        }
        let was_empty = state.events.is_empty();
        state.events.push(Entry {
            event,
            depth: nested_depth(),
        });
        // The worker waits only after finding the queue empty; while it
        // has items it comes back for more, so one wake-up per batch does.
        // Sequentially consistent with the worker's `sleeping` and
        // `has_events`: either it sees the event before it sleeps, or this
        // sees it asleep and wakes it.
        if was_empty {
            self.queue.has_events.store(true, Ordering::SeqCst);
            if self.queue.sleeping.load(Ordering::SeqCst) {
                self.queue.has_items.notify_one();
            }
        }
        Ok(())
    }
}

/// An `emit` waiting for room, counted in `State::waiting` until it queues
/// its event or is cancelled: a dropped `emit` future must not keep the
/// queue busy, or `shutdown` would wait for it forever.
struct Waiting<'a> {
    shared: &'a Shared,
    counted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let queue = &self.shared.queue;
        let mut state = queue.lock();
        state.waiting -= 1;
        let closed = state.closed;
        drop(state);
        if closed {
            // The worker may be asleep, waiting for this emit to end.
            queue.has_items.notify_one();
        }
        self.shared.tasks.wake();
    }
}

/// The worker's batch in hand. If the worker is dropped before it ends
/// (its runtime shut down), the events not yet started go back to the
/// front of the queue and the next `emit` starts a new worker.
struct Worker {
    shared: Arc<Shared>,
    /// Swapped with the queue's events, so both keep their capacity.
    batch: Events,
    /// Counts the batch in hand as work in flight, for `idle`.
    in_flight: Option<InFlight>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let queue = &self.shared.queue;
        let mut state = queue.lock();
        state.worker_running = false;
        self.batch.requeue_into(&mut state.events);
        queue.sleeping.store(false, Ordering::SeqCst);
        if !state.events.is_empty() {
            // The next worker takes them at once.
            queue.has_events.store(true, Ordering::SeqCst);
        }
    }
}

/// How many times the worker looks for events without the lock, yielding
/// in between, before it takes the lock (and, finding nothing, sleeps):
/// waking a sleeping worker costs far more than delivering an event, and a
/// busy producer refills the queue in time.
const SPINS: u32 = 64;

/// A batch smaller than this makes the worker wait a little before the
/// next one, so that it takes events in batches, not one at a time.
const SMALL_BATCH: usize = 64;

/// How many times the worker yields to let a small batch grow.
const GATHER_YIELDS: u32 = 4;

/// What [`Worker::take`] found.
enum Took {
    /// A batch to deliver.
    Batch,
    /// Nothing yet.
    Empty,
    /// The queue is closed and drained: the worker ends.
    Finished,
}

impl Worker {
    /// Takes every queued event into the batch, swapping buffers so both
    /// keep their capacity.
    fn take(&mut self) -> Took {
        let queue = &self.shared.queue;
        let mut state = queue.lock();
        if state.events.is_empty() {
            return if state.closed && state.waiting == 0 {
                Took::Finished
            } else {
                Took::Empty
            };
        }
        std::mem::swap(&mut self.batch, &mut state.events);
        queue.has_events.store(false, Ordering::Release);
        // Counted before the lock is released, so `idle` never sees the
        // batch neither queued nor in flight.
        self.in_flight = Some(self.shared.tasks.start());
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            queue.has_room.notify_waiters();
        }
        Took::Batch
    }
}

async fn run_worker(shared: Arc<Shared>) {
    let mut worker = Worker {
        shared,
        batch: Events::default(),
        in_flight: None,
    };
    let mut last_batch = 0;
    loop {
        // Looks without the producers' lock first: taking it for an empty
        // queue would only slow them down.
        let queue = &worker.shared.queue;
        for _ in 0..SPINS {
            if queue.has_events.load(Ordering::Acquire) {
                break;
            }
            tokio::task::yield_now().await;
        }
        // A small batch means the worker keeps up with its producers:
        // letting the queue fill a little first costs a microsecond of
        // latency and saves taking the producers' lock for every event.
        if last_batch < SMALL_BATCH.min(queue.capacity) {
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
        }
        match worker.take() {
            Took::Finished => return,
            Took::Batch => {
                last_batch = worker.batch.len();
                while let Some(queue) = worker.batch.next_queue() {
                    if let Some(delivery) = queue.deliver_next(&worker.shared) {
                        delivery.await;
                    }
                }
                worker.in_flight = None;
            }
            Took::Empty => {
                let queue = &worker.shared.queue;
                let has_items = queue.has_items.notified();
                tokio::pin!(has_items);
                has_items.as_mut().enable();
                queue.sleeping.store(true, Ordering::SeqCst);
                // An event queued before `sleeping` was set left
                // `has_events` set; one queued after it wakes `has_items`.
                if !queue.has_events.load(Ordering::SeqCst) {
                    has_items.await;
                }
                queue.sleeping.store(false, Ordering::SeqCst);
            }
        }
    }
}

impl Bus {
    /// Queues `event` for delivery by the bus's worker and returns; waits
    /// while the queue is full.
    ///
    /// Events emitted from one task are delivered in order. Failures of
    /// queued deliveries, which no caller sees, are logged as `tracing`
    /// errors.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Ping;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bus = Bus::new();
    /// bus.emit(Ping).await.expect("the bus is running");
    /// bus.shutdown().await; // delivers everything queued
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Hands the event back in an [`EmitError`] when the bus is shut down,
    /// or when no tokio runtime runs the caller and none was given to the
    /// bus.
    pub async fn emit<E: Event>(&self, event: E) -> Result<(), EmitError<E>> {
        let shared = &self.shared;
        let queue = &shared.queue;
        {
            let mut state = queue.lock();
            if state.closed {
                return Err(EmitError::new(EmitErrorKind::ShutDown, event));
            }
            if state.events.len() < queue.capacity {
                return shared.enqueue(&mut state, event);
            }
            state.waiting += 1;
        }
        // Admitted before shutdown began: this event is delivered even if
        // the bus shuts down while it waits for room.
        let mut waiting = Waiting {
            shared,
            counted: true,
        };
        let result = loop {
            let has_room = queue.has_room.notified();
            tokio::pin!(has_room);
            has_room.as_mut().enable();
            {
                let mut state = queue.lock();
                if state.events.len() < queue.capacity {
                    state.waiting -= 1;
                    waiting.counted = false;
                    break shared.enqueue(&mut state, event);
                }
            }
            has_room.await;
        };
        shared.tasks.wake();
        result
    }

    /// Queues `event` if there is room, without waiting.
    ///
    /// # Errors
    ///
    /// Hands the event back in an [`EmitError`] when the queue is full,
    /// the bus is shut down, or there is no runtime for the worker.
    pub fn try_emit<E: Event>(&self, event: E) -> Result<(), EmitError<E>> {
        let shared = &self.shared;
        let mut state = shared.queue.lock();
        if state.closed {
            return Err(EmitError::new(EmitErrorKind::ShutDown, event));
        }
        if state.events.len() >= shared.queue.capacity {
            return Err(EmitError::new(EmitErrorKind::Full, event));
        }
        shared.enqueue(&mut state, event)
    }

    /// Waits until nothing is in flight: the queue is empty and every
    /// handler the bus spawned has finished.
    pub async fn idle(&self) {
        let shared = &self.shared;
        shared
            .tasks
            .wait_until(|| shared.tasks.in_flight() == 0 && !shared.queue.is_busy())
            .await;
    }

    /// Stops accepting events, delivers everything queued and in flight,
    /// then returns. Nothing accepted is lost.
    ///
    /// Afterwards `publish` returns a report with one
    /// [`FailureKind::ShutDown`](crate::FailureKind::ShutDown) failure, and
    /// `emit`/`try_emit` hand the event back. Follow-ups published during
    /// the drain, and `emit` calls already waiting for room when shutdown
    /// began, are delivered.
    pub async fn shutdown(&self) {
        self.shared.set_shut_down();
        self.shared.queue.close();
        self.idle().await;
    }
}
