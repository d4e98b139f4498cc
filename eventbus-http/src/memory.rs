//! Deliveries in memory: per endpoint a queue and `concurrency` workers
//! that take webhooks from it and try them; a webhook to try again waits
//! on a timer of its own and goes back in the queue. A registry of every
//! delivery not yet settled lets a shutdown abandon them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use eventbus_core::{BoxError, EventRecord, SendOutcome};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::AbortHandle;

use crate::client::Tried;
use crate::live::{lock, Live, Message};
use crate::sink::{disabled_why, Inner};

/// The records a `take` has queued and not yet handed to the bus as
/// taken; dropped with them (the bus dropped the `take`), it orphans
/// them.
struct Taking(Vec<Arc<Message>>);

impl Drop for Taking {
    fn drop(&mut self) {
        for message in &self.0 {
            message.orphan();
        }
    }
}

/// One webhook to one endpoint.
struct Job {
    key: u64,
    message: Arc<Message>,
    /// Tries so far.
    tried: u32,
}

/// An endpoint's queue, and the workers that empty it.
pub(crate) struct Lane {
    sender: mpsc::UnboundedSender<Job>,
}

/// Every delivery not yet settled, by key.
#[derive(Default)]
pub(crate) struct Registry {
    pending: Mutex<HashMap<u64, Pending>>,
    next_key: AtomicU64,
}

/// A delivery not yet settled.
struct Pending {
    message: Arc<Message>,
    live: Arc<Live>,
    /// Its room in the endpoint's backlog, given back when it is dropped.
    _room: OwnedSemaphorePermit,
    /// The timer of a webhook waiting for its next try.
    timer: Option<AbortHandle>,
    /// Tries so far, as of its last wait.
    tried: u32,
    /// Set while it waits for its next try (and counts in its endpoint's
    /// `retrying`); whoever clears it uncounts it.
    waiting: Arc<AtomicBool>,
}

impl Registry {
    /// How many deliveries are not yet settled.
    pub(crate) fn len(&self) -> usize {
        lock(&self.pending).len()
    }
}

impl Inner {
    /// Takes `records`: each record's deliveries are queued at once (after
    /// waiting for room at a healthy endpoint that holds its backlog).
    ///
    /// The bus may drop this future part way (a shutdown whose time is
    /// up) and count the whole batch as abandoned itself: the records
    /// queued by then are orphaned, so that none is counted twice.
    pub(crate) async fn take(self: &Arc<Self>, records: &[Arc<EventRecord>]) -> Vec<SendOutcome> {
        let mut taking = Taking(Vec::with_capacity(records.len()));
        let mut outcomes = Vec::with_capacity(records.len());
        let live = self.live();
        for record in records {
            let (targets, disabled) = Self::targets(&live, record);
            if targets.is_empty() && disabled.is_empty() {
                outcomes.push(SendOutcome::Sent);
                continue;
            }
            let message = Arc::new(Message::new(
                Arc::clone(record),
                targets.len() + disabled.len(),
            ));
            taking.0.push(Arc::clone(&message));
            for live in disabled {
                let why = disabled_why(&live);
                self.give_up(&live, record, &why, 0);
                message.done(false, self.handle.get());
            }
            for live in targets {
                self.queue(&message, live).await;
            }
            outcomes.push(SendOutcome::Taken);
        }
        for message in std::mem::take(&mut taking.0) {
            message.taken(self.handle.get());
        }
        outcomes
    }

    async fn queue(self: &Arc<Self>, message: &Arc<Message>, live: Arc<Live>) {
        let room = match live.hold().await {
            Ok(room) => room,
            Err(held) => {
                let why = format!(
                    "the endpoint holds {held} webhooks, its backlog, and is failing; \
                 raise `WebhookSinkBuilder::backlog` or give the sink a store"
                );
                self.give_up(&live, &message.record, &why, 0);
                message.done(false, self.handle.get());
                return;
            }
        };
        let key = self.memory.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.memory.pending).insert(
            key,
            Pending {
                message: Arc::clone(message),
                live: Arc::clone(&live),
                _room: room,
                timer: None,
                tried: 0,
                waiting: Arc::new(AtomicBool::new(false)),
            },
        );
        let lane = live.lane.get_or_init(|| self.start_lane(&live));
        let job = Job {
            key,
            message: Arc::clone(message),
            tried: 0,
        };
        let first = self.settings.schedule.before(1).unwrap_or_default();
        if !first.is_zero() {
            self.later(&live, job, first, false);
        } else if lane.sender.send(job).is_err() {
            let why = "its workers stopped with the runtime that ran them";
            self.settle(key, Some((why, 0)));
        }
    }

    /// Starts an endpoint's workers.
    fn start_lane(self: &Arc<Self>, live: &Arc<Live>) -> Lane {
        let (sender, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..self.settings.concurrency {
            tokio::spawn(work(
                Arc::downgrade(self),
                Arc::downgrade(live),
                Arc::clone(&receiver),
            ));
        }
        Lane { sender }
    }

    /// Ends delivery `key`, unless a shutdown took it first: a failure is
    /// reported with `why` after `tried` tries, before the record is
    /// settled with the bus (so a `flush` that returns finds it in the
    /// dead letters).
    fn settle(&self, key: u64, failed: Option<(&str, u32)>) {
        let Some(pending) = lock(&self.memory.pending).remove(&key) else {
            return;
        };
        match failed {
            Some((why, tried)) if !pending.message.is_orphaned() => {
                self.give_up(&pending.live, &pending.message.record, why, tried);
            }
            Some(_) => pending.live.count_failed(),
            None => {}
        }
        pending.message.done(failed.is_none(), self.handle.get());
    }

    /// Whether delivery `key` is still to be made.
    fn is_pending(&self, key: u64) -> bool {
        lock(&self.memory.pending).contains_key(&key)
    }

    /// Puts `job` in its queue after `wait`, counted as retrying
    /// meanwhile when it is a `retry`.
    fn later(self: &Arc<Self>, live: &Arc<Live>, job: Job, wait: std::time::Duration, retry: bool) {
        let Some(lane) = live.lane.get() else {
            return;
        };
        let mut pending = lock(&self.memory.pending);
        let Some(entry) = pending.get_mut(&job.key) else {
            return;
        };
        entry.tried = job.tried;
        if retry {
            live.retrying(true);
            entry.waiting.store(true, Ordering::Release);
        }
        let waiting = Arc::clone(&entry.waiting);
        let sender = lane.sender.clone();
        let live = Arc::clone(live);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if waiting.swap(false, Ordering::AcqRel) {
                live.retrying(false);
            }
            let _ = sender.send(job);
        });
        entry.timer = Some(timer.abort_handle());
    }

    /// Fails at once the webhooks for `live` (disabled) that wait for a
    /// later try, rather than when their timers run out.
    fn fail_waiting(&self, live: &Arc<Live>) {
        let waiting: Vec<(u64, u32)> = {
            let mut pending = lock(&self.memory.pending);
            pending
                .iter_mut()
                .filter(|(_, entry)| Arc::ptr_eq(&entry.live, live))
                .filter_map(|(key, entry)| {
                    let timer = entry.timer.take()?;
                    timer.abort();
                    if entry.waiting.swap(false, Ordering::AcqRel) {
                        live.retrying(false);
                    }
                    Some((*key, entry.tried))
                })
                .collect()
        };
        let why = disabled_why(live);
        for (key, tried) in waiting {
            self.settle(key, Some((&why, tried)));
        }
    }

    /// Abandons every delivery not yet settled: a shutdown's time is up.
    pub(crate) fn abandon(&self) {
        let pending: Vec<Pending> = lock(&self.memory.pending)
            .drain()
            .map(|(_, pending)| pending)
            .collect();
        for pending in pending {
            if let Some(timer) = pending.timer {
                timer.abort();
            }
            if pending.waiting.swap(false, Ordering::AcqRel) {
                pending.live.retrying(false);
            }
            pending.live.count_failed();
            if pending.message.is_orphaned() {
                continue;
            }
            let error: BoxError = format!(
                "the bus shut down before the webhook to {} was delivered \
                 (its `shutdown_timeout` ran out)",
                pending.live.url
            )
            .into();
            if let Some(handle) = self.handle.get() {
                handle.abandon(Arc::clone(&pending.message.record), error, pending.tried);
            }
            pending.message.done(false, self.handle.get());
        }
    }
}

/// One worker of an endpoint: takes the next webhook from the queue and
/// tries it, until the sink is gone.
async fn work(
    inner: Weak<Inner>,
    live: Weak<Live>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
) {
    loop {
        let Some(job) = receiver.lock().await.recv().await else {
            return;
        };
        let (Some(inner), Some(live)) = (inner.upgrade(), live.upgrade()) else {
            return;
        };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        if inner.is_pending(job.key) {
            try_job(&inner, &live, job).await;
        }
    }
}

/// Tries `job` once and settles it, or puts it back for later.
async fn try_job(inner: &Arc<Inner>, live: &Arc<Live>, mut job: Job) {
    if live.disabled().is_some() {
        inner.settle(job.key, Some((&disabled_why(live), job.tried)));
        return;
    }
    let endpoint = live.endpoint();
    let body = job.message.body(endpoint.format);
    let tried = inner
        .client
        .try_once(&endpoint, &job.message.id, body, inner.settings.timeout)
        .await;
    job.tried += 1;
    let why = match tried {
        Tried::Delivered => {
            live.count_sent();
            inner.settle(job.key, None);
            return;
        }
        Tried::Retry { why, after, .. } => {
            if let Some(wait) = inner.settings.schedule.wait(job.tried + 1, after) {
                inner.later(live, job, wait, true);
                return;
            }
            why
        }
        Tried::Gone { why } => {
            live.disable(format!("it answered 410 Gone to event {}", job.message.id));
            inner.fail_waiting(live);
            why
        }
        Tried::Refused { why } => why,
    };
    inner.settle(job.key, Some((&why, job.tried)));
}
