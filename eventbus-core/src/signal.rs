//! [`Signal`]: wakes every task waiting for a condition on counters that
//! other tasks change (a sink's records settled, a relay's position). A
//! waiter takes its ticket before it looks, so a change made between the
//! look and the wait still wakes it.

/// Wakes, at each [`Signal::wake`], every task in [`Signal::until`].
///
/// `tokio::sync::Notify` does it; under `--cfg eventbus_loom` a model with
/// the same contract does (a `Notified` future created before
/// `notify_waiters` completes), so the loom models explore the counters'
/// protocol around it.
pub struct Signal {
    #[cfg(not(eventbus_loom))]
    notify: tokio::sync::Notify,
    #[cfg(eventbus_loom)]
    state: loom::sync::Mutex<ModelState>,
}

#[cfg(not(eventbus_loom))]
impl Signal {
    /// A signal nobody waits on yet.
    pub fn new() -> Self {
        Self {
            notify: tokio::sync::Notify::new(),
        }
    }

    /// Wakes every task waiting in [`until`](Self::until).
    pub fn wake(&self) {
        self.notify.notify_waiters();
    }

    /// Returns once `done()` holds, looking again after each wake-up.
    pub async fn until(&self, done: impl Fn() -> bool) {
        loop {
            let woken = self.notify.notified();
            let mut woken = std::pin::pin!(woken);
            // The ticket: `notify_waiters` from here on completes it.
            woken.as_mut().enable();
            if done() {
                return;
            }
            woken.await;
        }
    }
}

/// The model's state: how many wake-ups so far, and who waits.
#[cfg(eventbus_loom)]
#[derive(Default)]
struct ModelState {
    wakes: u64,
    waiting: Vec<std::task::Waker>,
}

#[cfg(eventbus_loom)]
impl Signal {
    /// A signal nobody waits on yet.
    pub fn new() -> Self {
        Self {
            state: loom::sync::Mutex::new(ModelState::default()),
        }
    }

    /// Wakes every task waiting in [`until`](Self::until).
    pub fn wake(&self) {
        let waiting = {
            let mut state = self.state.lock().unwrap();
            state.wakes += 1;
            std::mem::take(&mut state.waiting)
        };
        for waker in waiting {
            waker.wake();
        }
    }

    /// Returns once `done()` holds, looking again after each wake-up.
    pub async fn until(&self, done: impl Fn() -> bool) {
        loop {
            let ticket = self.state.lock().unwrap().wakes;
            if done() {
                return;
            }
            std::future::poll_fn(|cx| {
                let mut state = self.state.lock().unwrap();
                if state.wakes == ticket {
                    state.waiting.push(cx.waker().clone());
                    std::task::Poll::Pending
                } else {
                    std::task::Poll::Ready(())
                }
            })
            .await;
        }
    }
}
