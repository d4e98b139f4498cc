//! Handlers added at run time with [`Bus::subscribe`](crate::Bus::subscribe),
//! removed when their [`Subscription`] is dropped.
//!
//! Each bus keeps its run-time handlers in an immutable snapshot per event
//! slot; subscribing and unsubscribing swap in a new one, so a publish reads
//! a consistent set without a lock. A publish checks one counter first and
//! pays nothing more while the bus has no run-time handler at all.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};

use arc_swap::ArcSwap;

use crate::bus::Shared;
use crate::context::Context;
use crate::handler::{BoxError, HandlerInfo};

/// A type-erased run-time handler.
pub(crate) type DynCall =
    Box<dyn Fn(&dyn Any, Option<&Context>) -> Result<(), BoxError> + Send + Sync>;

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

/// One run-time handler and the bookkeeping that lets `drop` wait for its
/// calls on other threads.
pub(crate) struct Sub {
    id: u64,
    pub(crate) info: HandlerInfo,
    call: DynCall,
    /// An observer (a test recorder): it reads each event's envelope, so
    /// the bus builds one, and it is no handler: not counted, not layered.
    pub(crate) observer: bool,
    in_flight: AtomicUsize,
    removed: AtomicBool,
    idle: Mutex<()>,
    idle_changed: Condvar,
}

impl Sub {
    /// Marks a call as started, or returns `None` if the subscription was
    /// dropped. The `SeqCst` pair with [`Sub::retire`] makes sure either the
    /// caller sees `removed` or the dropper sees the call.
    pub(crate) fn enter(&self) -> Option<CallGuard<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.removed.load(Ordering::SeqCst) {
            self.leave();
            return None;
        }
        RUNNING.with(|running| running.borrow_mut().push(self.id));
        Some(CallGuard { sub: self })
    }

    pub(crate) fn call(&self, event: &dyn Any, context: Option<&Context>) -> Result<(), BoxError> {
        (self.call)(event, context)
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.removed.load(Ordering::SeqCst) {
            // Taking the lock orders this wake-up after the dropper's check.
            let _lock = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            self.idle_changed.notify_all();
        }
    }

    /// Stops new calls, then waits for the calls running on other threads.
    fn retire(&self) {
        self.removed.store(true, Ordering::SeqCst);
        let own =
            RUNNING.with(|running| running.borrow().iter().filter(|id| **id == self.id).count());
        let mut lock = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while self.in_flight.load(Ordering::SeqCst) > own {
            lock = self
                .idle_changed
                .wait(lock)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Ends a call on drop, also when the handler panics through the bus.
pub(crate) struct CallGuard<'a> {
    sub: &'a Sub,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        RUNNING.with(|running| {
            let mut running = running.borrow_mut();
            if let Some(at) = running.iter().rposition(|id| *id == self.sub.id) {
                running.remove(at);
            }
        });
        self.sub.leave();
    }
}

/// The run-time handlers of one bus, shared by its clones.
pub(crate) struct RuntimeSubs {
    live: AtomicUsize,
    /// Live subscriptions that read the envelope.
    envelope_readers: AtomicUsize,
    table: ArcSwap<Vec<Option<SlotSubs>>>,
    writer: Mutex<()>,
}

impl RuntimeSubs {
    pub(crate) fn new() -> Self {
        Self {
            live: AtomicUsize::new(0),
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
        call: DynCall,
        observer: bool,
        bus: Weak<Shared>,
    ) -> Subscription {
        let sub = Arc::new(Sub {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            info,
            call,
            observer,
            in_flight: AtomicUsize::new(0),
            removed: AtomicBool::new(false),
            idle: Mutex::new(()),
            idle_changed: Condvar::new(),
        });
        self.edit(slot, |subs| subs.push(Arc::clone(&sub)));
        if observer {
            self.envelope_readers.fetch_add(1, Ordering::Release);
        }
        self.live.fetch_add(1, Ordering::Release);
        Subscription {
            bus,
            slot,
            sub,
            detached: false,
        }
    }

    fn remove(&self, slot: usize, id: u64) {
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

/// A handler added at run time with [`Bus::subscribe`](crate::Bus::subscribe);
/// dropping it unsubscribes.
///
/// Once `drop` has returned, the handler is never entered again on any
/// thread: `drop` waits for calls already running on other threads, and
/// never for a call in progress on its own thread, so a handler may drop
/// subscriptions (its own included) without deadlock.
///
/// ```
/// use eventbus::prelude::*;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Tick;
///
/// let bus = Bus::new();
/// let ticks = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&ticks);
/// let subscription = bus.subscribe(move |_: &Tick| {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// let _ = bus.publish(Tick);
/// drop(subscription);
/// let _ = bus.publish(Tick);
/// assert_eq!(ticks.load(Ordering::Relaxed), 1);
/// ```
#[must_use = "dropping a Subscription unsubscribes at once; call `.detach()` to keep the handler for the bus's lifetime"]
pub struct Subscription {
    /// Unsubscribing from a bus that is gone does nothing.
    bus: Weak<Shared>,
    slot: usize,
    sub: Arc<Sub>,
    detached: bool,
}

impl Subscription {
    /// Keeps the handler subscribed for as long as the bus lives.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// The description of the subscribed handler.
    #[must_use]
    pub fn info(&self) -> &HandlerInfo {
        &self.sub.info
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if let Some(bus) = self.bus.upgrade() {
            bus.runtime_subs.remove(self.slot, self.sub.id);
        }
        self.sub.retire();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("handler", &self.sub.info)
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}
