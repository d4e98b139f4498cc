//! The bookkeeping behind `emit`, the queue's workers, `idle` and
//! `shutdown`: the queued events and the work in flight, under one lock.
//!
//! Every piece of accepted work is, at each instant, either queued or in
//! flight, and both counts change under the same lock: a worker's take
//! moves a batch from one to the other at once, and a handler that emits
//! queues its event before its own work ends. So [`Ledger::is_idle`] never
//! sees work that is neither. The type is synchronous and generic over the
//! queued events, so the `loom` models in `tests/loom.rs` check it alone.

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, TryLockError};

use crate::sync::{AtomicUsize, Mutex, MutexGuard};

/// Queued events, in the order they were accepted.
pub trait Batch: Default + Send + 'static {
    /// How many events there are.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the `max` oldest events (all of them, if fewer) to the back
    /// of `into`.
    fn move_front(&mut self, into: &mut Self, max: usize);

    /// Moves every event to the front of `into`, keeping their order.
    fn put_back(&mut self, into: &mut Self);
}

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The bus is shut down, or its last handle is gone.
    Closed,
    /// The queue is at capacity.
    Full,
}

/// What a worker's [`Ledger::take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A batch to deliver, now counted in flight.
    Batch {
        /// `emit` calls wait for room: wake them.
        wake_emitters: bool,
        /// Events are left and a worker sleeps: wake one.
        wake_worker: bool,
    },
    /// Nothing queued yet.
    Nothing,
    /// A producer holds the lock: nothing was taken, nothing changed.
    Busy,
    /// The queue is closed and drained: the worker ends.
    Finished,
}

/// Who asks whether the bus is idle.
///
/// A caller inside the bus's own work cannot wait for that work to end:
/// it registers with [`Ledger::start_waiting_inside`] while it waits, and
/// the work in flight whose callers all wait so counts as done. Several
/// handlers waiting at once (each in its own task, or one in `idle` and
/// one in `emit` for room) thus release one another instead of waiting
/// for one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Code outside the bus's own work: it waits for everything.
    Outside,
    /// A handler in a task the bus spawned: it waits for everything but
    /// the work that waits as it does.
    Task,
    /// A handler the queue's worker runs: it waits for the other work in
    /// flight, not for itself nor for the events queued behind it.
    Worker,
}

/// The queued events of a bus and its work in flight.
pub struct Ledger<Q> {
    book: Mutex<Book<Q>>,
    capacity: usize,
    max_workers: usize,
    /// Two things in one word, so that a producer and a worker going to
    /// sleep see each other with one read-modify-write each: the lowest
    /// bit, [`LOOK`], says a worker should take the lock and look (set when
    /// an event is queued into an empty queue and when the queue closes,
    /// cleared by a take), which lets idle workers look without the
    /// producers' lock; the rest counts the workers asleep, in steps of
    /// [`ASLEEP`]: only then does a producer pay for waking one.
    signal: AtomicUsize,
}

/// The bit of [`Ledger::signal`] that asks workers to look.
const LOOK: usize = 1;
/// One sleeping worker in [`Ledger::signal`].
const ASLEEP: usize = 2;

struct Book<Q> {
    events: Q,
    /// No new event is accepted; those already waiting for room still are.
    closed: bool,
    /// `emit` calls waiting for room.
    waiting: usize,
    /// Workers running.
    workers: usize,
    /// Batches being delivered and handler tasks running.
    in_flight: usize,
    /// Pieces of work in flight whose handler waits on the bus itself
    /// (`idle`, `shutdown`, `emit` for room).
    waiting_inside: usize,
}

impl<Q: Batch> Ledger<Q> {
    /// A ledger for a queue of `capacity` events (at least 1) drained by
    /// up to `max_workers` workers (at least 1).
    pub fn new(capacity: usize, max_workers: usize) -> Self {
        Self {
            book: Mutex::new(Book {
                events: Q::default(),
                closed: false,
                waiting: 0,
                workers: 0,
                in_flight: 0,
                waiting_inside: 0,
            }),
            capacity: capacity.max(1),
            max_workers: max_workers.max(1),
            signal: AtomicUsize::new(0),
        }
    }

    fn book(&self) -> MutexGuard<'_, Book<Q>> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many workers may run at once.
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// The queue's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Locks the queue for one `emit`.
    pub fn intake(&self) -> Intake<'_, Q> {
        Intake {
            ledger: self,
            book: self.book(),
        }
    }

    /// Whether a worker should take the lock and look (read without it).
    pub fn may_have_events(&self) -> bool {
        self.signal.load(Ordering::Acquire) & LOOK != 0
    }

    /// A worker takes the oldest events into `into` (empty): all of them
    /// when it is the only worker, one at a time when there are several,
    /// so that each starts the next event in order. `done` counts the
    /// worker's previous batch out of flight in the same step, as
    /// [`Ledger::batch_done`] would (the caller wakes `idle` waiters when
    /// it finds no new batch).
    ///
    /// Unless `wait`, never waits for the lock: while a producer holds it,
    /// returns [`Taken::Busy`] and changes nothing, so a worker looking for
    /// more does not spin on the line every `emit` writes. A worker passes
    /// `wait` after a few `Busy` in a row, so producers that keep taking
    /// the lock cannot starve it.
    pub fn take(&self, into: &mut Q, done: bool, wait: bool) -> Taken {
        let mut book = if wait {
            self.book()
        } else {
            match self.book.try_lock() {
                Ok(book) => book,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return Taken::Busy,
            }
        };
        if done {
            book.in_flight -= 1;
        }
        if book.events.is_empty() {
            return if book.closed && book.waiting == 0 {
                // The others look again too (the caller wakes the sleeping
                // ones): they end as well.
                self.set_look(true);
                Taken::Finished
            } else {
                self.set_look(false);
                Taken::Nothing
            };
        }
        let max = if self.max_workers == 1 { usize::MAX } else { 1 };
        book.events.move_front(into, max);
        // Counted before the lock is released: `is_idle` never sees the
        // batch neither queued nor in flight.
        book.in_flight += 1;
        let left = !book.events.is_empty();
        let asleep = self.set_look(left) >= ASLEEP;
        Taken::Batch {
            wake_emitters: book.waiting > 0,
            wake_worker: left && asleep,
        }
    }

    /// A worker has delivered its batch. Returns whether `idle` waiters
    /// should look again.
    pub fn batch_done(&self) -> bool {
        self.end_work()
    }

    /// A worker is about to sleep: returns `false` when it must look again
    /// instead, because an event was queued (or the queue closed) meanwhile.
    /// The waker must already be registered, and [`Ledger::wake_up`] called
    /// after the sleep either way.
    pub fn go_to_sleep(&self) -> bool {
        // One read-modify-write of the word `Intake::push` sets: either
        // this sees the event, or the producer sees this worker asleep and
        // wakes it.
        self.signal.fetch_add(ASLEEP, Ordering::AcqRel) & LOOK == 0
    }

    /// A worker is awake again.
    pub fn wake_up(&self) {
        self.signal.fetch_sub(ASLEEP, Ordering::AcqRel);
    }

    /// A worker ends before its queue is drained (its runtime shut down):
    /// the events of `batch` it did not start go back to the front of the
    /// queue. When no worker is left and no new one can come (the queue is
    /// closed), every queued event is returned: nobody will deliver them;
    /// unless `keep`, which leaves them queued.
    pub fn worker_stopped(&self, batch: &mut Q, held_batch: bool, keep: bool) -> Option<Q> {
        let mut book = self.book();
        book.workers -= 1;
        batch.put_back(&mut book.events);
        if held_batch {
            book.in_flight -= 1;
        }
        if book.closed && book.workers == 0 && !book.events.is_empty() && !keep {
            self.set_look(false);
            return Some(std::mem::take(&mut book.events));
        }
        // Closed: the other workers look again, find it drained, and end.
        self.set_look(book.closed || !book.events.is_empty());
        None
    }

    /// A spawned handler task starts: counted in flight until
    /// [`Ledger::task_done`].
    pub fn task_started(&self) {
        self.book().in_flight += 1;
    }

    /// A spawned handler task has ended. Returns whether `idle` waiters
    /// should look again.
    pub fn task_done(&self) -> bool {
        self.end_work()
    }

    fn end_work(&self) -> bool {
        let mut book = self.book();
        book.in_flight -= 1;
        // Callers inside the bus's work wait until everything in flight
        // waits as they do.
        book.in_flight <= book.waiting_inside
    }

    /// A handler inside the bus's work starts waiting on the bus. Returns
    /// whether other such waiters should look again.
    pub fn start_waiting_inside(&self) -> bool {
        let mut book = self.book();
        book.waiting_inside += 1;
        book.in_flight <= book.waiting_inside
    }

    /// A handler inside the bus's work stops waiting on the bus.
    pub fn stop_waiting_inside(&self) {
        self.book().waiting_inside -= 1;
    }

    /// Whether nothing `caller` waits for is queued or in flight. A caller
    /// inside the bus's work must be registered with
    /// [`Ledger::start_waiting_inside`].
    pub fn is_idle(&self, caller: Caller) -> bool {
        let book = self.book();
        let settled = book.in_flight <= book.waiting_inside;
        match caller {
            Caller::Outside => book.events.is_empty() && book.waiting == 0 && book.in_flight == 0,
            Caller::Task => book.events.is_empty() && book.waiting == 0 && settled,
            Caller::Worker => settled,
        }
    }

    /// When events are queued but no worker runs to deliver them (its
    /// runtime went away), counts a worker for the caller to start and
    /// returns `true`.
    pub fn claim_stranded_queue(&self) -> bool {
        let mut book = self.book();
        let stranded = book.workers == 0 && !book.events.is_empty();
        if stranded {
            book.workers += 1;
        }
        stranded
    }

    /// Takes no new events; the workers end once the queue is drained.
    /// The caller wakes every sleeping worker afterwards.
    pub fn close(&self) {
        let mut book = self.book();
        book.closed = true;
        self.set_look(true);
    }

    /// Takes every queued event out, for a bus that is going away with
    /// no worker left to deliver them.
    pub fn take_all(&self) -> Q {
        let mut book = self.book();
        self.set_look(false);
        std::mem::take(&mut book.events)
    }

    /// Sets or clears [`LOOK`]; returns the word as it was. Called with
    /// the lock held, so the bit follows the queue.
    fn set_look(&self, look: bool) -> usize {
        if look {
            self.signal.fetch_or(LOOK, Ordering::AcqRel)
        } else {
            self.signal.fetch_and(!LOOK, Ordering::AcqRel)
        }
    }
}

/// The queue locked for one `emit`.
pub struct Intake<'a, Q> {
    ledger: &'a Ledger<Q>,
    book: MutexGuard<'a, Book<Q>>,
}

impl<Q: Batch> Intake<'_, Q> {
    /// Why a new event cannot be queued now, if it cannot.
    pub fn refusal(&self) -> Option<Refused> {
        if self.book.closed {
            Some(Refused::Closed)
        } else if self.is_full() {
            Some(Refused::Full)
        } else {
            None
        }
    }

    /// Whether the queue is at capacity.
    pub fn is_full(&self) -> bool {
        self.book.events.len() >= self.ledger.capacity
    }

    /// Whether another worker should be started for this event.
    pub fn needs_worker(&self) -> bool {
        self.book.workers < self.ledger.max_workers
    }

    /// Whether a worker runs.
    pub fn has_worker(&self) -> bool {
        self.book.workers > 0
    }

    /// Counts a worker the caller has started.
    pub fn worker_started(&mut self) {
        self.book.workers += 1;
    }

    /// Queues an event with `push`. Returns whether a sleeping worker must
    /// be woken.
    pub fn push(mut self, push: impl FnOnce(&mut Q)) -> bool {
        let was_empty = self.book.events.is_empty();
        push(&mut self.book.events);
        if !was_empty {
            // A worker comes back for more while events are queued, so one
            // wake-up per batch does.
            return false;
        }
        self.ledger.set_look(true) >= ASLEEP
    }

    /// Counts an `emit` that waits for room: it is admitted, and delivered
    /// even if the queue closes while it waits.
    pub fn start_waiting(&mut self) {
        self.book.waiting += 1;
    }

    /// An `emit` stops waiting, with room found or cancelled. Returns
    /// whether the queue is closed (a worker may be waiting for this).
    pub fn stop_waiting(&mut self) -> bool {
        self.book.waiting -= 1;
        if self.book.closed {
            self.ledger.set_look(true);
        }
        self.book.closed
    }
}
