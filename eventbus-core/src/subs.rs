//! The run-time handlers of one bus: an immutable snapshot per event
//! slot, swapped on subscribe and unsubscribe, so a publish reads a
//! consistent set without a lock. A publish checks one counter first and
//! pays nothing more while the bus has no run-time handler at all.
//!
//! [`CallGate`] counts each handler's calls in flight, so unsubscribing can
//! wait for them.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

use arc_swap::ArcSwap;

use crate::call::HandlerFuture;
use crate::context::Context;
use crate::handler::{BoxError, HandlerInfo};
use crate::sync;

/// A type-erased run-time handler.
pub(crate) type DynCall =
    Box<dyn Fn(&dyn Any, Option<&Context>) -> Result<(), BoxError> + Send + Sync>;

/// A type-erased run-time async handler: the event, shared, to its future.
pub(crate) type AsyncDynCall =
    Box<dyn Fn(Arc<dyn Any + Send + Sync>) -> HandlerFuture<'static> + Send + Sync>;

/// How a run-time handler is called.
pub(crate) enum SubCall {
    /// Inline, on the publishing thread.
    Sync(DynCall),
    /// As a future: spawned by `publish`, awaited by `publish_async`.
    Async(AsyncDynCall),
}

/// The run-time handlers of one event slot, in subscription order.
pub(crate) type SlotSubs = Arc<[Arc<Sub>]>;

/// Subscription ids are unique in the process, not per bus: a handler of
/// one bus may drop a subscription of another.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Ids of the run-time handlers running on this thread, innermost last.
    /// Lets a handler drop a subscription (its own included) without
    /// waiting for itself.
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Counts the calls of one handler in flight and closes it to new ones,
/// so that unsubscribing can wait for the calls already running.
///
/// The count and the closed flag share one word, so `enter` and `close`
/// are one read-modify-write each: either the call sees the gate closed,
/// or the closer's count includes the call. Modelled in `tests/loom.rs`.
pub struct CallGate {
    /// Calls in flight, and [`CLOSED`].
    state: sync::AtomicUsize,
    /// Async waiters; the lock also orders a leaving call's wake-up after
    /// a waiter's check.
    wakers: sync::Mutex<Vec<Waker>>,
    idle_changed: sync::Condvar,
}

/// The bit of [`CallGate::state`] that lets no new call in.
const CLOSED: usize = 1 << (usize::BITS - 1);

impl CallGate {
    /// An open gate with no call in flight.
    pub fn new() -> Self {
        Self {
            state: sync::AtomicUsize::new(0),
            wakers: sync::Mutex::new(Vec::new()),
            idle_changed: sync::Condvar::new(),
        }
    }

    /// Counts a call as started; `false` (and nothing counted) when the
    /// gate is closed.
    pub fn enter(&self) -> bool {
        if self.state.fetch_add(1, Ordering::AcqRel) & CLOSED != 0 {
            self.leave();
            return false;
        }
        true
    }

    /// Ends a call counted by `enter`.
    pub fn leave(&self) {
        if self.state.fetch_sub(1, Ordering::AcqRel) & CLOSED != 0 {
            let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
            self.idle_changed.notify_all();
            for waker in wakers.drain(..) {
                waker.wake();
            }
        }
    }

    /// Lets no new call in.
    pub fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Whether the gate lets no new call in.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    fn in_flight(&self) -> usize {
        self.state.load(Ordering::Acquire) & !CLOSED
    }

    /// Blocks until at most `own` calls are in flight (the caller's own).
    pub fn wait_idle(&self, own: usize) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        while self.in_flight() > own {
            wakers = self
                .idle_changed
                .wait(wakers)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Ready when at most `own` calls are in flight; otherwise `waker` is
    /// woken when a call leaves.
    pub fn poll_idle(&self, own: usize, waker: &Waker) -> Poll<()> {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if self.in_flight() <= own {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|known| known.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        Poll::Pending
    }
}

/// One run-time handler and the bookkeeping that lets unsubscribing wait
/// for its calls on other threads.
pub(crate) struct Sub {
    pub(crate) id: u64,
    pub(crate) info: HandlerInfo,
    call: SubCall,
    /// An observer (a test recorder): it reads each event's envelope, so
    /// the bus builds one, and it is no handler: not counted, not layered.
    pub(crate) observer: bool,
    pub(crate) gate: CallGate,
}

impl Sub {
    /// Marks a call as started, or returns `None` if the subscription was
    /// dropped.
    pub(crate) fn enter(&self) -> Option<CallGuard<'_>> {
        if !self.gate.enter() {
            return None;
        }
        RUNNING.with(|running| running.borrow_mut().push(self.id));
        Some(CallGuard { sub: self })
    }

    /// Whether this is an async handler, called through [`Sub::start`].
    pub(crate) fn is_async(&self) -> bool {
        matches!(self.call, SubCall::Async(_))
    }

    /// Calls a sync handler.
    pub(crate) fn call(&self, event: &dyn Any, context: Option<&Context>) -> Result<(), BoxError> {
        match &self.call {
            SubCall::Sync(call) => call(event, context),
            SubCall::Async(_) => {
                Err("an async run-time handler was called inline; please report this bug".into())
            }
        }
    }

    /// Starts a call of an async handler, counted in flight until the
    /// returned call is dropped; `None` if the subscription was dropped.
    pub(crate) fn start(self: &Arc<Self>) -> Option<AsyncSubCall> {
        if !self.is_async() || !self.gate.enter() {
            return None;
        }
        Some(AsyncSubCall {
            sub: Arc::clone(self),
        })
    }

    /// How many calls of this handler run on this thread, around the
    /// caller.
    pub(crate) fn own_calls(&self) -> usize {
        RUNNING.with(|running| running.borrow().iter().filter(|id| **id == self.id).count())
    }
}

/// Ends a call on drop, also when the handler panics through the bus.
pub(crate) struct CallGuard<'a> {
    sub: &'a Sub,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        end_running(self.sub.id);
        self.sub.gate.leave();
    }
}

fn end_running(id: u64) {
    RUNNING.with(|running| {
        let mut running = running.borrow_mut();
        if let Some(at) = running.iter().rposition(|running| *running == id) {
            running.remove(at);
        }
    });
}

/// One call of an async run-time handler, counted in flight until dropped.
pub(crate) struct AsyncSubCall {
    sub: Arc<Sub>,
}

impl AsyncSubCall {
    /// One attempt of the handler for `event`. The handler is called on
    /// the first poll (inside the bus's panic guard), unless it was
    /// unsubscribed meanwhile: then the attempt does nothing, since the
    /// handler is never started after its subscription is dropped. The
    /// future is marked as this handler's call while it is polled, so it
    /// may unsubscribe itself without waiting for itself.
    pub(crate) fn attempt(&self, event: Arc<dyn Any + Send + Sync>) -> HandlerFuture<'static> {
        let sub = Arc::clone(&self.sub);
        let mut event = Some(event);
        let mut future: Option<HandlerFuture<'static>> = None;
        Box::pin(std::future::poll_fn(move |cx| {
            let id = sub.id;
            RUNNING.with(|running| running.borrow_mut().push(id));
            let _running = Running(id);
            let future = future.get_or_insert_with(|| match (&sub.call, event.take()) {
                _ if sub.gate.is_closed() => Box::pin(std::future::ready(Ok(()))),
                (SubCall::Async(call), Some(event)) => call(event),
                _ => unreachable!("`Sub::start` starts only async handlers, once"),
            });
            future.as_mut().poll(cx)
        }))
    }
}

/// Takes a handler's id off this thread's running list when dropped,
/// also when its poll panics.
struct Running(u64);

impl Drop for Running {
    fn drop(&mut self) {
        end_running(self.0);
    }
}

impl Drop for AsyncSubCall {
    fn drop(&mut self) {
        self.sub.gate.leave();
    }
}

/// The run-time handlers of one bus, shared by its clones.
pub(crate) struct RuntimeSubs {
    live: AtomicUsize,
    /// Live async subscriptions.
    live_async: AtomicUsize,
    /// Live subscriptions that read the envelope.
    envelope_readers: AtomicUsize,
    table: ArcSwap<Vec<Option<SlotSubs>>>,
    writer: Mutex<()>,
}

impl RuntimeSubs {
    pub(crate) fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
            live_async: AtomicUsize::new(0),
            envelope_readers: AtomicUsize::new(0),
            table: ArcSwap::from_pointee(Vec::new()),
            writer: Mutex::new(()),
        }
    }

    /// Whether the bus has no live run-time handler.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.live.load(Ordering::Acquire) == 0
    }

    /// The handlers of `slot` at this instant; `None` without touching the
    /// table when the bus has no run-time handler.
    #[inline]
    pub(crate) fn snapshot(&self, slot: usize) -> Option<SlotSubs> {
        if self.live.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.snapshot_of(slot)
    }

    fn snapshot_of(&self, slot: usize) -> Option<SlotSubs> {
        self.table.load().get(slot).cloned().flatten()
    }

    /// Whether a live subscription of `slot` is async.
    #[inline]
    pub(crate) fn has_async(&self, slot: usize) -> bool {
        if self.live_async.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.snapshot_of(slot)
            .is_some_and(|subs| subs.iter().any(|sub| sub.is_async()))
    }

    /// Whether a live subscription of `slot` reads the envelope.
    #[inline]
    pub(crate) fn reads_envelope(&self, slot: usize) -> bool {
        if self.envelope_readers.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.snapshot_of(slot)
            .is_some_and(|subs| subs.iter().any(|sub| sub.observer))
    }

    /// Every live run-time handler, in subscription order, for
    /// `Bus::handlers`.
    pub(crate) fn infos(&self) -> Vec<HandlerInfo> {
        let table = self.table.load();
        let mut subs: Vec<&Arc<Sub>> = table
            .iter()
            .flatten()
            .flat_map(|subs| subs.iter())
            .collect();
        subs.sort_by_key(|sub| sub.id);
        subs.into_iter()
            .filter(|sub| !sub.observer)
            .map(|sub| sub.info.clone())
            .collect()
    }

    pub(crate) fn add(
        &self,
        slot: usize,
        info: HandlerInfo,
        call: SubCall,
        observer: bool,
    ) -> Arc<Sub> {
        let sub = Arc::new(Sub {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            info,
            call,
            observer,
            gate: CallGate::new(),
        });
        self.edit(slot, |subs| subs.push(Arc::clone(&sub)));
        if observer {
            self.envelope_readers.fetch_add(1, Ordering::Release);
        }
        if sub.is_async() {
            self.live_async.fetch_add(1, Ordering::Release);
        }
        self.live.fetch_add(1, Ordering::Release);
        sub
    }

    pub(crate) fn remove(&self, slot: usize, id: u64) {
        let mut removed = None;
        self.edit(slot, |subs| {
            if let Some(at) = subs.iter().position(|sub| sub.id == id) {
                removed = Some(subs.remove(at));
            }
        });
        if let Some(sub) = removed {
            if sub.observer {
                self.envelope_readers.fetch_sub(1, Ordering::Release);
            }
            if sub.is_async() {
                self.live_async.fetch_sub(1, Ordering::Release);
            }
            self.live.fetch_sub(1, Ordering::Release);
        }
    }

    /// Swaps in a new snapshot with `slot`'s list changed by `change`.
    fn edit(&self, slot: usize, change: impl FnOnce(&mut Vec<Arc<Sub>>)) {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut table: Vec<Option<SlotSubs>> = self.table.load().as_ref().clone();
        if table.len() <= slot {
            table.resize(slot + 1, None);
        }
        let mut subs: Vec<Arc<Sub>> = table[slot]
            .as_deref()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        change(&mut subs);
        table[slot] = if subs.is_empty() {
            None
        } else {
            Some(subs.into())
        };
        self.table.store(Arc::new(table));
    }
}
