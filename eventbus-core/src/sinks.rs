//! The sinks of one bus at work: a bounded buffer and a worker per sink,
//! retries with backoff, final failures to the hooks, and the counts that
//! `flush` and `Bus::sinks` read.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, Permit};
use tokio::sync::Notify;

use crate::handler::BoxError;
use crate::hooks::Hooks;
use crate::meta::EventMeta;
use crate::record::EventRecord;
use crate::report::{take_panic, FailureKind, HandlerFailure};
use crate::sink::{SendOutcome, Sink, SinkHandle, SinkRetry, SinkSide, SinkStats};
use crate::tally::Tally;

/// How many records wait for a sink by default.
pub(crate) const DEFAULT_SINK_BUFFER: usize = 1024;

/// A record on its way to one sink, with its event's name as the hooks
/// report it.
struct Outgoing {
    record: Arc<EventRecord>,
    event: &'static str,
}

/// The sinks of one bus.
pub(crate) struct Sinks {
    outlets: Box<[Outlet]>,
    /// By event slot: the outlets that want the slot's type.
    wanted: Box<[Box<[usize]>]>,
}

/// One sink: its buffer, and what its worker shares with the bus.
struct Outlet {
    sender: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
}

/// What a sink's worker and the bus both read.
struct Shared {
    name: Arc<str>,
    sink: Arc<dyn Sink>,
    retry: SinkRetry,
    hooks: Arc<Hooks>,
    /// What the sink was handed, sent and gave up on; whether the worker
    /// has ended.
    tally: Tally,
    /// Tells the worker to stop: a shutdown's time is up.
    stop: Notify,
    /// With a journal, a worker that ends drops what it holds instead of
    /// reporting it abandoned: the log keeps it, and the sink's relay
    /// sends it after a restart.
    keep_pending: bool,
}

/// The settings every sink of a bus shares.
pub(crate) struct SinkSettings {
    pub(crate) buffer: usize,
    pub(crate) retry: SinkRetry,
    pub(crate) hooks: Arc<Hooks>,
    /// Whether the bus has a journal, which keeps what a sink has not sent.
    pub(crate) journaled: bool,
}

impl Sinks {
    /// Starts a worker on `runtime` for each of `sinks`, and asks each
    /// which of `events` it wants.
    pub(crate) fn start(
        sinks: Vec<(String, Arc<dyn Sink>)>,
        events: &[&'static EventMeta],
        settings: &SinkSettings,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let outlets: Box<[Outlet]> = sinks
            .into_iter()
            .map(|(name, sink)| {
                let (sender, receiver) = mpsc::channel(settings.buffer);
                let shared = Arc::new(Shared {
                    name: name.into(),
                    sink,
                    retry: settings.retry,
                    hooks: Arc::clone(&settings.hooks),
                    tally: Tally::new(),
                    stop: Notify::new(),
                    keep_pending: settings.journaled,
                });
                runtime.spawn(run(Arc::clone(&shared), receiver));
                let side: Arc<dyn SinkSide> = Arc::clone(&shared) as Arc<dyn SinkSide>;
                let handle = SinkHandle::new(Arc::downgrade(&side));
                let _entered = runtime.enter();
                shared.sink.start(handle);
                Outlet { sender, shared }
            })
            .collect();
        let mut wanted: Vec<Vec<usize>> = Vec::new();
        for meta in events.iter().filter(|meta| !meta.is_local()) {
            let slot = meta.slot();
            if wanted.len() <= slot {
                wanted.resize_with(slot + 1, Vec::new);
            }
            wanted[slot] = outlets
                .iter()
                .enumerate()
                .filter(|(_, outlet)| outlet.shared.sink.wants(meta))
                .map(|(at, _)| at)
                .collect();
        }
        Self {
            outlets,
            wanted: wanted.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }

    /// Whether a sink wants the records of `meta`'s type.
    pub(crate) fn wants(&self, meta: &EventMeta) -> bool {
        self.wanted
            .get(meta.slot())
            .is_some_and(|outlets| !outlets.is_empty())
    }

    /// The outlets that take `record`: those that want its type, but for
    /// the one it came through.
    fn takers<'s, 'r>(
        &'s self,
        meta: &EventMeta,
        record: &'r EventRecord,
    ) -> impl Iterator<Item = &'s Outlet> + use<'s, 'r> {
        let source = record.envelope.source.as_deref();
        self.wanted
            .get(meta.slot())
            .into_iter()
            .flat_map(|outlets| outlets.iter())
            .map(|&at| &self.outlets[at])
            .filter(move |outlet| source != Some(&*outlet.shared.name))
    }

    /// Hands `record` to every sink that takes it, without waiting: a full
    /// buffer is a [`FailureKind::SinkFull`] failure in `failures`, and
    /// the record goes to the dead letters when they are reported.
    pub(crate) fn offer(
        &self,
        meta: &'static EventMeta,
        record: &Arc<EventRecord>,
        failures: &mut Vec<HandlerFailure>,
    ) {
        for outlet in self.takers(meta, record) {
            let shared = &outlet.shared;
            let outgoing = Outgoing {
                record: Arc::clone(record),
                event: meta.name(),
            };
            // Counted before it is in the buffer, where the worker may
            // send it at once.
            shared.tally.accept();
            let kind = match outlet.sender.try_send(outgoing) {
                Ok(()) => continue,
                Err(TrySendError::Full(_)) => FailureKind::SinkFull,
                // The worker is gone with its runtime.
                Err(TrySendError::Closed(_)) => FailureKind::SinkFailed,
            };
            shared.tally.refused();
            let error: Option<BoxError> = (kind == FailureKind::SinkFailed)
                .then(|| "its worker has stopped: the runtime that ran it ended".into());
            failures.push(HandlerFailure::of_sink(
                kind,
                Arc::clone(record),
                Arc::clone(&shared.name),
                meta.name(),
                error,
                0,
            ));
        }
    }

    /// Room for `record` in the buffer of every sink that takes it,
    /// waiting for it; `None` when a sink's worker has stopped. Nothing is
    /// handed over until [`Reserved::send`].
    pub(crate) async fn reserve<'s>(
        &'s self,
        meta: &'static EventMeta,
        record: &EventRecord,
    ) -> Option<Reserved<'s>> {
        let mut permits = Vec::new();
        for outlet in self.takers(meta, record) {
            permits.push((outlet, outlet.sender.reserve().await.ok()?));
        }
        Some(Reserved {
            permits,
            event: meta.name(),
        })
    }

    /// [`Sinks::reserve`] without waiting: `None` when a buffer is full.
    pub(crate) fn try_reserve<'s>(
        &'s self,
        meta: &'static EventMeta,
        record: &EventRecord,
    ) -> Option<Reserved<'s>> {
        let mut permits = Vec::new();
        for outlet in self.takers(meta, record) {
            permits.push((outlet, outlet.sender.try_reserve().ok()?));
        }
        Some(Reserved {
            permits,
            event: meta.name(),
        })
    }

    /// Waits until every record accepted so far has been sent or has
    /// failed, by every sink; then lets each sink flush its own buffers.
    /// A sink's flush error goes to `tracing`.
    pub(crate) async fn flush(&self) {
        for outlet in &*self.outlets {
            let shared = &outlet.shared;
            shared.tally.settle().await;
            if let Err(error) = shared.sink.flush().await {
                tracing::error!(
                    target: "eventbus",
                    sink = &*shared.name,
                    "sink `{}` could not flush: {error}",
                    shared.name
                );
            }
        }
    }

    /// How many sinks there are.
    pub(crate) fn len(&self) -> usize {
        self.outlets.len()
    }

    /// The name of sink number `at`.
    pub(crate) fn name(&self, at: usize) -> &str {
        &self.outlets[at].shared.name
    }

    /// Whether sink number `at` takes `record`, of `meta`'s type.
    pub(crate) fn takes(&self, at: usize, meta: &EventMeta, record: &EventRecord) -> bool {
        self.takers(meta, record)
            .any(|outlet| Arc::ptr_eq(&outlet.shared, &self.outlets[at].shared))
    }

    /// Hands `record` to sink number `at`, waiting for room; `false` when
    /// its worker has stopped.
    pub(crate) async fn hand_over(
        &self,
        at: usize,
        meta: &'static EventMeta,
        record: Arc<EventRecord>,
    ) -> bool {
        let outlet = &self.outlets[at];
        let Ok(permit) = outlet.sender.reserve().await else {
            return false;
        };
        outlet.shared.tally.accept();
        permit.send(Outgoing {
            record,
            event: meta.name(),
        });
        true
    }

    /// Waits until sink number `at` has sent, or failed for good, every
    /// record it was handed so far.
    pub(crate) async fn settle(&self, at: usize) {
        self.outlets[at].shared.tally.settle().await;
    }

    /// Flushes the sinks by `deadline`, then stops each worker: what one
    /// still holds when time has run out is reported as
    /// [`FailureKind::Abandoned`] (without a journal, which otherwise
    /// keeps it). Then lets each sink close: no worker sends after that.
    pub(crate) async fn shut_down(&self, deadline: tokio::time::Instant) {
        let _ = tokio::time::timeout_at(deadline, self.flush()).await;
        for outlet in &*self.outlets {
            outlet.shared.stop.notify_one();
        }
        for outlet in &*self.outlets {
            outlet.shared.tally.ended().await;
        }
        for outlet in &*self.outlets {
            let close = outlet.shared.sink.close(deadline.into_std());
            let _ = tokio::time::timeout_at(deadline, close).await;
        }
    }

    /// What each sink has sent, failed and still holds.
    pub(crate) fn stats(&self) -> Vec<SinkStats> {
        self.outlets
            .iter()
            .map(|outlet| {
                let shared = &outlet.shared;
                let counts = shared.tally.counts();
                SinkStats {
                    name: shared.name.to_string(),
                    sent: counts.sent,
                    failed: counts.failed,
                    waiting: counts.waiting,
                }
            })
            .collect()
    }
}

/// Room in the buffers of the sinks that take one record.
pub(crate) struct Reserved<'s> {
    permits: Vec<(&'s Outlet, Permit<'s, Outgoing>)>,
    event: &'static str,
}

impl Reserved<'_> {
    /// Hands the record over.
    pub(crate) fn send(self, record: &Arc<EventRecord>) {
        for (outlet, permit) in self.permits {
            outlet.shared.tally.accept();
            permit.send(Outgoing {
                record: Arc::clone(record),
                event: self.event,
            });
        }
    }
}

impl Shared {
    /// Hands `records` to the sink, a panic caught as a retry of all.
    async fn send(&self, records: &[Arc<EventRecord>]) -> Vec<SendOutcome> {
        let retry_all = |panic: String| -> Vec<SendOutcome> {
            records
                .iter()
                .map(|_| SendOutcome::Retry(format!("the sink panicked: {panic}").into()))
                .collect()
        };
        let mut sending = match catch_unwind(AssertUnwindSafe(|| self.sink.send(records))) {
            Ok(sending) => sending,
            Err(payload) => return retry_all(take_panic(payload)),
        };
        let outcome = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| sending.as_mut().poll(cx))) {
                Ok(Poll::Ready(outcomes)) => Poll::Ready(Ok(outcomes)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(take_panic(payload))),
            }
        })
        .await;
        outcome.unwrap_or_else(|panic| {
            records
                .iter()
                .map(|_| SendOutcome::Retry(format!("the sink panicked: {panic}").into()))
                .collect()
        })
    }

    /// `work`, unless the worker is told to stop first: then `None`.
    async fn until_stopped<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let stop = self.stop.notified();
        let mut stop = std::pin::pin!(stop);
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(done) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(done));
            }
            stop.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    /// Reports records the worker will never send: a shutdown's time ran
    /// out first (`stopped`), or the runtime that ran it ended.
    fn abandon(&self, pending: Vec<Outgoing>, stopped: bool) {
        let why = if stopped {
            "the bus shut down before the sink sent the record (its `shutdown_timeout` ran out)"
        } else {
            "the runtime that ran the sink's worker ended before the sink sent the record"
        };
        let failures: Vec<HandlerFailure> = pending
            .into_iter()
            .map(|outgoing| {
                self.tally.failed();
                HandlerFailure::of_sink(
                    FailureKind::Abandoned,
                    outgoing.record,
                    Arc::clone(&self.name),
                    outgoing.event,
                    Some(why.into()),
                    0,
                )
            })
            .collect();
        self.hooks.report(&failures, true);
    }

    /// Reports a record that will not be sent.
    fn give_up(&self, outgoing: Outgoing, error: BoxError, attempts: u32) {
        self.tally.failed();
        let failure = HandlerFailure::of_sink(
            FailureKind::SinkFailed,
            outgoing.record,
            Arc::clone(&self.name),
            outgoing.event,
            Some(error),
            attempts,
        );
        self.hooks.report(std::slice::from_ref(&failure), true);
    }
}

/// What a [`SinkHandle`] reaches: the sink's counts and hooks.
impl SinkSide for Shared {
    fn name(&self) -> Arc<str> {
        Arc::clone(&self.name)
    }

    fn journaled(&self) -> bool {
        self.keep_pending
    }

    fn settle(&self, sent: bool) {
        if sent {
            self.tally.sent();
        } else {
            self.tally.failed();
        }
        self.tally.wake();
    }

    fn report(&self, kind: FailureKind, record: Arc<EventRecord>, error: BoxError, attempts: u32) {
        // Failures name their event by the registered type's name.
        let event = crate::record_json::find_event(&record.name)
            .map_or("(an event type this program does not know)", |meta| {
                meta.name()
            });
        let failure = HandlerFailure::of_sink(
            kind,
            record,
            Arc::clone(&self.name),
            event,
            Some(error),
            attempts,
        );
        self.hooks.report(std::slice::from_ref(&failure), true);
    }
}

/// A sink's worker: takes records in batches, in order, and tries each
/// batch until every record is sent or has failed for good.
async fn run(shared: Arc<Shared>, receiver: mpsc::Receiver<Outgoing>) {
    let mut worker = Worker {
        shared,
        receiver,
        pending: Vec::new(),
        stopped: false,
    };
    worker.stopped = worker.work().await;
}

/// A sink's worker and what it holds. However it ends (told to stop by a
/// shutdown whose time is up, or dropped with its runtime) it reports
/// what it still holds as abandoned, unless a journal keeps it, and marks
/// itself ended, so no `flush` or `shutdown` waits for it.
struct Worker {
    shared: Arc<Shared>,
    receiver: mpsc::Receiver<Outgoing>,
    /// Taken from the buffer and not yet sent or failed for good.
    pending: Vec<Outgoing>,
    /// Told to stop, rather than dropped with its runtime.
    stopped: bool,
}

impl Worker {
    /// Sends until the buffer is closed and empty (`false`) or the worker
    /// is told to stop (`true`).
    async fn work(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let most = shared.sink.max_batch().max(1);
        let mut batch = Vec::with_capacity(most);
        loop {
            let Some(taken) = shared
                .until_stopped(self.receiver.recv_many(&mut batch, most))
                .await
            else {
                return true;
            };
            if taken == 0 {
                return false;
            }
            self.pending.append(&mut batch);
            let mut tried = 0;
            while !self.pending.is_empty() {
                tried += 1;
                let records: Vec<Arc<EventRecord>> = self
                    .pending
                    .iter()
                    .map(|outgoing| Arc::clone(&outgoing.record))
                    .collect();
                let Some(outcomes) = shared.until_stopped(shared.send(&records)).await else {
                    return true;
                };
                let mut outcomes = outcomes.into_iter();
                let last_try = tried >= shared.retry.attempts.max(1);
                let mut again = Vec::new();
                for outgoing in self.pending.drain(..) {
                    match outcomes.next() {
                        Some(SendOutcome::Sent) => shared.tally.sent(),
                        // The sink settles it through its handle.
                        Some(SendOutcome::Taken) => {}
                        Some(SendOutcome::Failed(error)) => shared.give_up(outgoing, error, tried),
                        Some(SendOutcome::Retry(error)) if last_try => {
                            shared.give_up(outgoing, error, tried);
                        }
                        None if last_try => shared.give_up(
                            outgoing,
                            "the sink returned no outcome for the record".into(),
                            tried,
                        ),
                        Some(SendOutcome::Retry(_)) | None => again.push(outgoing),
                    }
                }
                shared.tally.wake();
                self.pending = again;
                if !self.pending.is_empty() {
                    let wait = tokio::time::sleep(shared.retry.delay_after(tried));
                    if shared.until_stopped(wait).await.is_none() {
                        return true;
                    }
                }
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.receiver.close();
        while let Ok(outgoing) = self.receiver.try_recv() {
            self.pending.push(outgoing);
        }
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() && !self.shared.keep_pending {
            self.shared.abandon(pending, self.stopped);
        }
        self.shared.tally.end();
    }
}
