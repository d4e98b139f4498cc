//! The work a bus has in flight: async handlers it spawned and events in
//! its queue, counted so that `idle` and `shutdown` can wait for them.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::Notify;

/// Counts the bus's work in flight and finds the runtime to run it on.
pub(crate) struct Tasks {
    runtime: Option<Handle>,
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Tasks {
    pub(crate) fn new(runtime: Option<Handle>) -> Self {
        Self {
            runtime,
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// The runtime given to the builder, or the one this thread runs in.
    pub(crate) fn runtime(&self) -> Option<Handle> {
        self.runtime.clone().or_else(|| Handle::try_current().ok())
    }

    /// Counts one more piece of work until the returned guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
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
        runtime.spawn(async move {
            let _guard = guard;
            future.await;
        });
        Some(())
    }

    /// Runs `work` on the runtime's blocking pool, counted until it ends.
    /// `None` when there is no runtime.
    pub(crate) fn spawn_blocking<T, F>(
        self: &Arc<Self>,
        work: F,
    ) -> Option<tokio::task::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime()?;
        let guard = self.start();
        Some(runtime.spawn_blocking(move || {
            let _guard = guard;
            work()
        }))
    }

    /// How much work is in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until `done()` holds; re-checked whenever the count of work
    /// in flight reaches zero (or `wake` is called).
    pub(crate) async fn wait_until(&self, done: impl Fn() -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done() {
                return;
            }
            changed.await;
        }
    }

    /// Wakes every `wait_until` to check its condition again.
    pub(crate) fn wake(&self) {
        self.changed.notify_waiters();
    }
}

/// One piece of work in flight; dropping it marks the work done.
pub(crate) struct InFlight {
    tasks: Arc<Tasks>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.tasks.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.tasks.wake();
        }
    }
}
