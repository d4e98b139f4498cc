//! The work a bus has in flight: async handlers it spawned and events in
//! its queue, counted in its [`Ledger`] so that `idle` and `shutdown` can
//! wait for them, and marked while they run so that a handler that waits
//! for its own bus does not wait for itself.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::ledger::{Batch, Caller, Ledger};

thread_local! {
    /// The bus whose work is being polled on this thread (the address of
    /// its `Tasks`), and which kind of work it is.
    static RUNNING: Cell<Option<(usize, Caller)>> = const { Cell::new(None) };
}

/// Counts the bus's work in flight and finds the runtime to run it on.
pub(crate) struct Tasks<Q> {
    runtime: Option<Handle>,
    pub(crate) ledger: Ledger<Q>,
    /// Woken when the work in flight shrinks, for `idle`.
    changed: Notify,
}

impl<Q: Batch> Tasks<Q> {
    pub(crate) fn new(runtime: Option<Handle>, ledger: Ledger<Q>) -> Self {
        Self {
            runtime,
            ledger,
            changed: Notify::new(),
        }
    }

    /// The runtime given to the builder, or the one this thread runs in.
    pub(crate) fn runtime(&self) -> Option<Handle> {
        self.runtime.clone().or_else(|| Handle::try_current().ok())
    }

    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Who is calling, as far as this bus is concerned: one of its own
    /// tasks or workers, or code outside its work.
    pub(crate) fn caller(&self) -> Caller {
        match RUNNING.with(Cell::get) {
            Some((id, caller)) if id == self.id() => caller,
            _ => Caller::Outside,
        }
    }

    /// `future`, marked as this bus's work of kind `caller` while it is
    /// polled.
    pub(crate) fn marked<F: Future>(
        &self,
        caller: Caller,
        future: F,
    ) -> impl Future<Output = F::Output> {
        let id = self.id();
        async move {
            let mut future = std::pin::pin!(future);
            std::future::poll_fn(|cx| {
                let _running = Running::enter(id, caller);
                future.as_mut().poll(cx)
            })
            .await
        }
    }

    /// Counts one more handler task until the returned guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight<Q> {
        self.ledger.task_started();
        InFlight {
            tasks: Arc::clone(self),
        }
    }

    /// Spawns `future` on the bus's runtime, counted until it ends (or is
    /// dropped with its runtime). `None` when there is no runtime.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> Option<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let runtime = self.runtime()?;
        let guard = self.start();
        runtime.spawn(self.marked(Caller::Task, async move {
            let _guard = guard;
            future.await;
        }));
        Some(())
    }

    /// Runs `work` on the runtime's blocking pool. Called from the bus's
    /// own work (a task or a worker awaits it), it is part of that work;
    /// otherwise it is counted as a piece of its own until it ends. `None`
    /// when there is no runtime.
    pub(crate) fn spawn_blocking<T, F>(
        self: &Arc<Self>,
        work: F,
    ) -> Option<tokio::task::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime()?;
        let (guard, caller) = match self.caller() {
            Caller::Outside => (Some(self.start()), Caller::Task),
            inside => (None, inside),
        };
        let id = self.id();
        Some(runtime.spawn_blocking(move || {
            let _guard = guard;
            let _running = Running::enter(id, caller);
            work()
        }))
    }

    /// Waits until nothing the caller waits for is queued or in flight
    /// (see [`Caller`]); `before_each_look` runs before every look.
    pub(crate) async fn idle(&self, before_each_look: impl Fn()) {
        let caller = self.caller();
        let _inside = self.waiting_inside(caller);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            before_each_look();
            if self.ledger.is_idle(caller) {
                return;
            }
            changed.await;
        }
    }

    /// Registers a caller inside the bus's work as waiting on the bus until
    /// the returned guard drops; `None` for a caller outside.
    pub(crate) fn waiting_inside(&self, caller: Caller) -> Option<WaitingInside<'_, Q>> {
        if caller == Caller::Outside {
            return None;
        }
        if self.ledger.start_waiting_inside() {
            self.wake();
        }
        Some(WaitingInside { tasks: self })
    }

    /// Wakes every `idle` to look again.
    pub(crate) fn wake(&self) {
        self.changed.notify_waiters();
    }
}

/// A caller inside the bus's work, waiting on the bus.
pub(crate) struct WaitingInside<'a, Q: Batch> {
    tasks: &'a Tasks<Q>,
}

impl<Q: Batch> Drop for WaitingInside<'_, Q> {
    fn drop(&mut self) {
        self.tasks.ledger.stop_waiting_inside();
    }
}

/// Marks this thread as polling a bus's work until dropped.
struct Running(Option<(usize, Caller)>);

impl Running {
    fn enter(id: usize, caller: Caller) -> Self {
        Self(RUNNING.with(|running| running.replace(Some((id, caller)))))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|running| running.set(self.0));
    }
}

/// One handler task in flight; dropping it marks the work done.
pub(crate) struct InFlight<Q: Batch> {
    tasks: Arc<Tasks<Q>>,
}

impl<Q: Batch> Drop for InFlight<Q> {
    fn drop(&mut self) {
        if self.tasks.ledger.task_done() {
            self.tasks.wake();
        }
    }
}
