//! [`Sink`]: where records of accepted events go out of the process (a
//! broker, webhooks, a file), and what the bus counts of each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::handler::BoxError;
use crate::layer::BoxFuture;
use crate::meta::EventMeta;
use crate::record::EventRecord;

/// Takes the records of accepted events out of the process. Add one with
/// [`BusBuilder::sink`](crate::BusBuilder::sink).
///
/// Every non-local event the bus accepts (published, emitted, delivered
/// from outside, or published by a handler) becomes one [`EventRecord`],
/// built once and shared by every sink that [`wants`](Sink::wants) its
/// type. A sink is not handed back a record whose envelope names it as
/// its `source`, and never gets records read back from the event log
/// (origin `Replay`).
///
/// Each sink has a bounded buffer and a worker of its own, so a slow sink
/// holds back neither the handlers nor the other sinks. The worker hands
/// the records to [`send`](Sink::send) in batches, in the order the bus
/// accepted them, retries what the sink says to retry with backoff, and
/// puts what finally failed in the dead letters (with the record and the
/// sink's name) and hands it to `on_error`.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use eventbus::layer::BoxFuture;
/// use eventbus::{EventRecord, SendOutcome, Sink};
///
/// /// Writes each record as a line of JSON.
/// #[derive(Default)]
/// struct Lines(Mutex<Vec<String>>);
///
/// impl Sink for Lines {
///     fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
///         Box::pin(async move {
///             let mut lines = self.0.lock().unwrap();
///             records
///                 .iter()
///                 .map(|record| {
///                     lines.push(record.to_json());
///                     SendOutcome::Sent
///                 })
///                 .collect()
///         })
///     }
/// }
/// ```
pub trait Sink: Send + Sync + 'static {
    /// Whether the sink wants the records of the event type `event`; asked
    /// once per type when the bus is built. By default, every non-local
    /// type (local ones never become records).
    fn wants(&self, event: &EventMeta) -> bool {
        let _ = event;
        true
    }

    /// Sends `records`, in order; returns one outcome per record, in the
    /// same order. A missing outcome counts as
    /// [`SendOutcome::Retry`].
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>>;

    /// How many records one call of [`send`](Sink::send) takes at most
    /// (default [`DEFAULT_SINK_BATCH`], 64). A sink whose cost is per
    /// call rather than per record (a round trip to confirm what it
    /// sent) asks for more.
    fn max_batch(&self) -> usize {
        DEFAULT_SINK_BATCH
    }

    /// Waits until what [`send`](Sink::send) accepted has left the
    /// process (a client's own buffer, publisher confirms); called by
    /// [`Bus::flush`](crate::Bus::flush) once the bus has handed the sink
    /// every record. Nothing to wait for by default.
    fn flush(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once when the bus starts the sink's worker, on the bus's
    /// runtime (so `tokio::spawn` works here), with the handle through
    /// which the sink settles the records it [took](SendOutcome::Taken)
    /// and reports failures found after `send` returned. Nothing to do by
    /// default.
    #[cfg(feature = "tokio")]
    fn start(&self, handle: SinkHandle) {
        let _ = handle;
    }

    /// Releases the sink's connections at shutdown, by `deadline`. Nothing
    /// to release by default.
    fn close(&self, deadline: Instant) -> BoxFuture<'_, ()> {
        let _ = deadline;
        Box::pin(async {})
    }
}

/// How many records a sink's worker hands [`Sink::send`] at once, unless
/// the sink's [`max_batch`](Sink::max_batch) says otherwise.
pub const DEFAULT_SINK_BATCH: usize = 64;

/// What became of one record handed to [`Sink::send`].
#[derive(Debug)]
#[non_exhaustive]
pub enum SendOutcome {
    /// Sent.
    Sent,
    /// Not sent this time; try again after a while (a network error, a
    /// timeout, a busy receiver).
    Retry(BoxError),
    /// Not sent, and trying again would not help (the receiver refused
    /// it); it goes to the dead letters at once.
    Failed(BoxError),
    /// Taken over by the sink, which sends it on its own time (its own
    /// retry schedule, several receivers) and settles it later through
    /// the [`SinkHandle`] given to [`Sink::start`]:
    /// [`settle_sent`](SinkHandle::settle_sent) or
    /// [`settle_failed`](SinkHandle::settle_failed). Until then the record
    /// counts as waiting, and [`Bus::flush`](crate::Bus::flush) waits for
    /// it.
    Taken,
}

/// How a sink's worker retries what its sink could not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkRetry {
    /// Tries in all, the first one included; then the record goes to
    /// the dead letters. At least 1.
    pub attempts: u32,
    /// The wait before the second try; it doubles for each one after.
    pub first_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for SinkRetry {
    /// 5 tries, 100 ms doubling up to 10 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl SinkRetry {
    /// `attempts` tries, waiting `first_delay`, doubling up to
    /// `max_delay`.
    #[must_use]
    pub fn new(attempts: u32, first_delay: Duration, max_delay: Duration) -> Self {
        Self {
            attempts,
            first_delay,
            max_delay,
        }
    }

    /// The wait after try number `tried` (1 for the first).
    #[cfg(feature = "tokio")]
    pub(crate) fn delay_after(&self, tried: u32) -> Duration {
        let doublings = tried.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// How many records one sink has sent, failed and still holds; from
/// [`Bus::sinks`](crate::Bus::sinks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The name given to [`BusBuilder::sink`](crate::BusBuilder::sink).
    pub name: String,
    /// Records the sink sent.
    pub sent: u64,
    /// Records that went to the dead letters: failed for good, or refused
    /// because the buffer was full.
    pub failed: u64,
    /// Records accepted and not yet sent or failed: in the buffer, being
    /// tried, or [taken](SendOutcome::Taken) and not yet settled.
    pub waiting: u64,
}

/// What a [`SinkHandle`] reaches in the bus; implemented by the sinks at
/// work.
#[cfg(feature = "tokio")]
pub(crate) trait SinkSide: Send + Sync {
    fn name(&self) -> Arc<str>;
    fn journaled(&self) -> bool;
    /// A taken record is settled: sent, or failed for good.
    fn settle(&self, sent: bool);
    fn report(
        &self,
        kind: crate::report::FailureKind,
        record: Arc<EventRecord>,
        error: BoxError,
        attempts: u32,
    );
}

/// What a [`Sink`] holds to settle the records it
/// [took](SendOutcome::Taken) and to report failures found after
/// [`Sink::send`] returned; given to [`Sink::start`]. Cheap to clone.
/// After the bus is dropped its calls do nothing.
#[cfg(feature = "tokio")]
#[derive(Clone)]
pub struct SinkHandle {
    side: std::sync::Weak<dyn SinkSide>,
}

#[cfg(feature = "tokio")]
impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkHandle")
            .field("sink", &self.name())
            .finish()
    }
}

#[cfg(feature = "tokio")]
impl SinkHandle {
    pub(crate) fn new(side: std::sync::Weak<dyn SinkSide>) -> Self {
        Self { side }
    }

    /// The name the sink was given in
    /// [`BusBuilder::sink`](crate::BusBuilder::sink); `None` once the bus
    /// is dropped.
    #[must_use]
    pub fn name(&self) -> Option<Arc<str>> {
        self.side.upgrade().map(|side| side.name())
    }

    /// Whether the bus has a journal: then every record handed to the
    /// sink is in the log (and is handed again after a restart, until the
    /// sink has sent it).
    #[must_use]
    pub fn journaled(&self) -> bool {
        self.side.upgrade().is_some_and(|side| side.journaled())
    }

    /// A record the sink took has been sent.
    pub fn settle_sent(&self) {
        if let Some(side) = self.side.upgrade() {
            side.settle(true);
        }
    }

    /// A record the sink took has failed for good; report why first with
    /// [`dead_letter`](Self::dead_letter) (once per receiver that refused
    /// it, say).
    pub fn settle_failed(&self) {
        if let Some(side) = self.side.upgrade() {
            side.settle(false);
        }
    }

    /// Reports that `record` will not be sent, after `attempts` tries,
    /// because of `error`: a
    /// [`FailureKind::SinkFailed`](crate::FailureKind::SinkFailed) failure,
    /// with the record and the sink's name, to the dead letters and
    /// `on_error`. Counts nothing: settle a taken record as well.
    pub fn dead_letter(&self, record: Arc<EventRecord>, error: BoxError, attempts: u32) {
        self.report(
            crate::report::FailureKind::SinkFailed,
            record,
            error,
            attempts,
        );
    }

    /// Reports that the sink gave `record` up unsent at shutdown (its
    /// `shutdown_timeout` ran out): a
    /// [`FailureKind::Abandoned`](crate::FailureKind::Abandoned) failure,
    /// to the dead letters and `on_error`. Counts nothing: settle a taken
    /// record as well.
    pub fn abandon(&self, record: Arc<EventRecord>, error: BoxError, attempts: u32) {
        self.report(
            crate::report::FailureKind::Abandoned,
            record,
            error,
            attempts,
        );
    }

    fn report(
        &self,
        kind: crate::report::FailureKind,
        record: Arc<EventRecord>,
        error: BoxError,
        attempts: u32,
    ) {
        let Some(side) = self.side.upgrade() else {
            tracing::error!(
                target: "eventbus",
                event = &*record.name,
                event_id = %record.envelope.id,
                "a sink could not send a record after its bus was dropped: {error}"
            );
            return;
        };
        side.report(kind, record, error, attempts);
    }
}
