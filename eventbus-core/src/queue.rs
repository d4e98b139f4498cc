//! The background queue: [`Bus::emit`] and [`Bus::try_emit`] hand an event
//! to a bounded queue and return; worker tasks deliver it.
//!
//! Nothing accepted is dropped: a full queue makes `emit` wait and
//! `try_emit` hand the event back, `shutdown` delivers what is queued
//! before it returns, and an event that can no longer be delivered (its
//! runtime ended) is reported as abandoned. The counting lives in
//! [`Ledger`](crate::ledger::Ledger); this module stores the events and
//! runs the workers.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::abandoned::{abandoned, Abandoned, Unfinished};
use crate::bus::Bus;
use crate::cascade::Cascade;
use crate::context::{Given, Parent};
use crate::depth::{nested_depth, nesting};
use crate::dispatch::SharedOrOwned;
use crate::dispatcher::Dispatcher;
use crate::envelope::{Envelope, LazyId};
use crate::error::{EmitError, EmitErrorKind};
use crate::event::Event;
use crate::events::{put_in_front, QueuedDelivery, SlotQueue, QUEUED};
use crate::ledger::{Batch, Caller, Intake, Refused, Taken};

use crate::journal::JournalEntry;
use crate::journaling::Committed;
use crate::plain::Plain;
use crate::record::EventRecord;
use crate::report::HandlerFailure;
use crate::sink::SinkStats;

struct Entry<E> {
    event: E,
    depth: u32,
    /// Its record went to the sinks under an envelope, which waits in
    /// [`Typed::stamps`] for the delivery to keep it.
    stamped: bool,
}

/// The queued events of one type. The envelopes of the few that have one
/// wait beside them, in the same order, so that an entry stays two words
/// for a small event: the worker reads what the producers wrote, a cache
/// line per few events.
struct Typed<E> {
    entries: VecDeque<Entry<E>>,
    stamps: VecDeque<Box<Envelope>>,
}

impl<E> Default for Typed<E> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            stamps: VecDeque::new(),
        }
    }
}

impl<E> Typed<E> {
    fn push(&mut self, event: E, depth: u32, stamp: Option<Box<Envelope>>) {
        let stamped = stamp.is_some();
        if let Some(stamp) = stamp {
            self.stamps.push_back(stamp);
        }
        self.entries.push_back(Entry {
            event,
            depth,
            stamped,
        });
    }

    /// The oldest event, its depth and its envelope, if it has one.
    fn pop(&mut self) -> (E, u32, Option<Box<Envelope>>) {
        let entry = self.entries.pop_front().expect(QUEUED);
        let stamp = if entry.stamped {
            Some(self.stamps.pop_front().expect(QUEUED))
        } else {
            None
        };
        (entry.event, entry.depth, stamp)
    }
}

/// The queued events of a bus.
type Events = crate::events::Events<Dispatcher>;

const SLOT_TYPE: &str = "a queue slot holds the events of its slot's type";

impl<E: Event> Typed<E> {
    fn of(queue: &mut dyn SlotQueue<Dispatcher>) -> &mut Self {
        queue.as_any().downcast_mut::<Self>().expect(SLOT_TYPE)
    }
}

impl<E: Event> SlotQueue<Dispatcher> for Typed<E> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn empty_like(&self) -> Box<dyn SlotQueue<Dispatcher>> {
        Box::new(Self::default())
    }

    fn deliver_next(&mut self, dispatcher: &Arc<Dispatcher>) -> Option<QueuedDelivery> {
        let (event, depth, stamp) = self.pop();
        deliver(dispatcher, event, depth, stamp)
    }

    fn abandon_next(&mut self, dispatcher: &Dispatcher) -> HandlerFailure {
        let (event, _, _) = self.pop();
        abandoned(
            dispatcher,
            E::__meta(),
            &LazyId::default(),
            Some(&event),
            Abandoned::Queued,
        )
    }

    fn move_front_into(&mut self, into: &mut dyn SlotQueue<Dispatcher>) {
        let (event, depth, stamp) = self.pop();
        Self::of(into).push(event, depth, stamp);
    }

    fn requeue_into(&mut self, into: &mut dyn SlotQueue<Dispatcher>) {
        let into = Self::of(into);
        put_in_front(&mut self.entries, &mut into.entries);
        put_in_front(&mut self.stamps, &mut into.stamps);
    }
}

/// Delivers a queued event on the worker: at once when every handler
/// runs inline, otherwise through the returned future.
fn deliver<E: Event>(
    dispatcher: &Arc<Dispatcher>,
    event: E,
    depth: u32,
    stamp: Option<Box<Envelope>>,
) -> Option<QueuedDelivery> {
    // An event emitted by a handler counts toward the cascade depth
    // like one published there, so an emit loop stops too.
    if let Some(failure) = dispatcher.too_deep(E::__meta(), &event, depth) {
        dispatcher.report_unseen_failures(vec![failure]);
        return None;
    }
    match dispatcher.try_deliver_plain(&event, nesting(), depth) {
        Plain::Handled(_) => return None,
        Plain::Finished(report) => {
            if !report.is_ok() {
                dispatcher.report_unseen_failures((*report).into_failures());
            }
            return None;
        }
        Plain::General => {}
    }
    let mut id = stamp
        .as_ref()
        .map_or_else(LazyId::default, |stamp| LazyId::known(stamp.id));
    let parent = move || Parent {
        given: stamp.map(|stamp| {
            Box::new(Given {
                envelope: *stamp,
                only: None,
                sent: true,
                journaled: false,
            })
        }),
        ..Parent::root(depth)
    };
    if dispatcher.all_inline::<E>() {
        let (_, failures) = Cascade::deliver_sync(dispatcher, |failures, follow_ups| {
            dispatcher.deliver_sync(event, parent(), &mut id, failures, follow_ups)
        });
        dispatcher.report_unseen_failures(failures);
        return None;
    }
    // Reported as abandoned if the runtime drops the delivery before
    // its handlers have finished.
    let event = Arc::new(event);
    let unfinished = Unfinished::new(dispatcher, None, id.get(), &event);
    let dispatcher = Arc::clone(dispatcher);
    Some(Box::pin(async move {
        let (_, failures) = dispatcher
            .deliver_root_async(SharedOrOwned::Shared(event), parent(), &mut id)
            .await;
        unfinished.finish();
        dispatcher.report_unseen_failures(failures);
    }))
}

/// An emitted event on its way into the journal: the commit's answer, and
/// the event, to hand back if it fails.
type JournalEmit<E> = Result<Option<(oneshot::Receiver<Committed>, E)>, EmitError<E>>;

impl Dispatcher {
    /// Appends an emitted event to the journal, as not yet handled;
    /// `Err(event)` when the bus has no journal or the event is local.
    fn journal_emit<E: Event>(
        &self,
        event: E,
        wait: bool,
        stream: Option<&str>,
    ) -> Result<JournalEmit<E>, E> {
        let meta = E::__meta();
        let Some(journaling) = self.journaling.as_ref().filter(|_| !meta.is_local()) else {
            return Err(event);
        };
        if self.is_shut_down() {
            return Ok(Err(EmitError::new(EmitErrorKind::ShutDown, event)));
        }
        let envelope = Envelope::root(self.next_sequence(), None);
        let record = match EventRecord::encode(meta, &event, envelope) {
            Ok(record) => record,
            Err(error) => return Ok(Err(EmitError::not_committed(event, error.to_string()))),
        };
        let stream = stream.map_or(std::borrow::Cow::Borrowed(meta.name()), |stream| {
            std::borrow::Cow::Owned(stream.to_owned())
        });
        let entry = JournalEntry::new(stream, Arc::new(record), false);
        if !wait {
            journaling.submit_unawaited(entry, meta.name());
            return Ok(Ok(None));
        }
        Ok(Ok(Some((journaling.submit(entry, meta.name()), event))))
    }

    /// The envelope and record of an event about to be emitted, when a
    /// sink wants its type: its record goes to the sinks when it is
    /// accepted, and its delivery keeps the envelope. An event that cannot
    /// be written is queued without a record.
    fn stamp<E: Event>(&self, event: &E) -> Option<(Envelope, Arc<EventRecord>)> {
        let meta = E::__meta();
        if !self.records(meta) {
            return None;
        }
        let envelope = Envelope::root(self.next_sequence(), None);
        // An event that cannot be written is queued without a record; its
        // delivery tries again and reports the failure, once.
        let record = EventRecord::encode(meta, event, envelope.clone()).ok()?;
        Some((envelope, Arc::new(record)))
    }

    /// Whether every handler of `E` runs inline, so a queued `E` can be
    /// delivered without a future.
    fn all_inline<E: Event>(&self) -> bool {
        self.route::<E>()
            .is_none_or(|route| route.deferred.is_empty())
            && !self.runtime_subs.has_async(E::__meta().slot())
    }

    /// Queues `event` if a worker can be found for it; hands it back
    /// otherwise.
    fn enqueue<E: Event>(
        self: &Arc<Self>,
        mut intake: Intake<'_, Events>,
        event: E,
        stamp: Option<Box<Envelope>>,
    ) -> Result<(), EmitError<E>> {
        let mut start = None;
        if intake.needs_worker() {
            match self.tasks.runtime() {
                Some(runtime) => {
                    intake.worker_started();
                    start = Some(runtime);
                }
                None if !intake.has_worker() => {
                    return Err(EmitError::new(EmitErrorKind::NoRuntime, event));
                }
                None => {}
            }
        }
        let depth = nested_depth();
        let wake = intake.push(|events| {
            events.push(
                E::__meta().slot(),
                || Box::new(Typed::<E>::default()),
                |queue| Typed::<E>::of(queue).push(event, depth, stamp),
            );
        });
        if let Some(runtime) = start {
            self.spawn_worker(&runtime);
        }
        if wake {
            self.queue.has_items.notify_one();
        }
        Ok(())
    }

    /// Starts a worker for events left queued by a worker whose runtime
    /// ended, if this thread has a runtime.
    fn restart_worker(self: &Arc<Self>) {
        let Some(runtime) = self.tasks.runtime() else {
            return;
        };
        if self.tasks.ledger.claim_stranded_queue() {
            self.spawn_worker(&runtime);
        }
    }

    /// Spawns a worker already counted in the ledger. Called after the
    /// ledger's lock is released: a worker dropped at once (its runtime is
    /// shutting down) counts itself out under that lock.
    fn spawn_worker(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        runtime.spawn(
            self.tasks
                .marked(Caller::Worker, run_worker(Arc::clone(self))),
        );
    }
}

/// An `emit` waiting for room, counted in the ledger until it queues its
/// event or is cancelled: a dropped `emit` future must not keep the queue
/// busy, or `shutdown` would wait for it forever.
struct Waiting<'a> {
    dispatcher: &'a Dispatcher,
    counted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let closed = self.dispatcher.tasks.ledger.intake().stop_waiting();
        if closed {
            // The workers may be asleep, waiting for this emit to end.
            self.dispatcher.queue.has_items.notify_waiters();
        }
        self.dispatcher.tasks.wake();
    }
}

/// A worker's batch in hand. If the worker is dropped before it ends (its
/// runtime shut down), the events not yet started go back to the front of
/// the queue for the next worker; if none can come, they are reported as
/// abandoned.
struct Worker {
    dispatcher: Arc<Dispatcher>,
    /// Swapped with the queue's events, so both keep their capacity.
    batch: Events,
    /// The batch in hand, or the one just delivered until the next
    /// take or `batch_done`, is counted in flight.
    holding: bool,
    /// Counted among the sleeping workers.
    asleep: bool,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let ledger = &self.dispatcher.tasks.ledger;
        if self.asleep {
            ledger.wake_up();
        }
        // A handler panicking through the bus (`catch_panics(false)`)
        // leaves the queue as it is, for the next worker.
        let left = ledger.worker_stopped(&mut self.batch, self.holding, std::thread::panicking());
        self.dispatcher.tasks.wake();
        // `emit` calls waiting for room look again (and start a worker).
        self.dispatcher.queue.has_room.notify_waiters();
        if let Some(events) = left {
            self.dispatcher.abandon(events);
        }
    }
}

/// How many times the worker looks for events without the lock, yielding
/// in between, before it takes the lock (and, finding nothing, sleeps):
/// waking a sleeping worker costs far more than delivering an event, and a
/// busy producer refills the queue in time.
const SPINS: u32 = 64;

/// A batch smaller than this makes a lone worker wait a little before the
/// next one, so that it takes events in batches, not one at a time.
const SMALL_BATCH: usize = 64;

/// How many times the worker yields to let a small batch grow.
const GATHER_YIELDS: u32 = 4;

/// After this many [`Taken::Busy`] in a row, the worker waits for the
/// producers' lock: producers that keep taking it must not starve it.
const MAX_BUSY: u32 = 16;

/// A worker for the queue of `dispatcher`. The [`Worker`] is made before the
/// future is first polled, so a worker dropped unpolled (its runtime ended
/// at once) is still counted out, and reports what nobody will deliver.
fn run_worker(dispatcher: Arc<Dispatcher>) -> impl Future<Output = ()> + Send {
    let worker = Worker {
        dispatcher,
        batch: Events::default(),
        holding: false,
        asleep: false,
    };
    work(worker)
}

async fn work(mut worker: Worker) {
    let alone = worker.dispatcher.tasks.ledger.max_workers() == 1;
    let mut last_batch = 0;
    let mut busy = 0;
    loop {
        let ledger = &worker.dispatcher.tasks.ledger;
        // A delivered batch is counted out of flight by the next take,
        // under the same lock, when more events wait already; otherwise
        // at once, so `idle` does not wait for the spins below.
        if worker.holding && !ledger.may_have_events() {
            worker.holding = false;
            if ledger.batch_done() {
                worker.dispatcher.tasks.wake();
            }
        }
        // Looks without the producers' lock first: taking it for an empty
        // queue would only slow them down.
        for _ in 0..SPINS {
            if ledger.may_have_events() {
                break;
            }
            tokio::task::yield_now().await;
        }
        // A small batch means the worker keeps up with its producers:
        // letting the queue fill a little first costs a microsecond of
        // latency and saves taking the producers' lock for every event.
        if alone && last_batch < SMALL_BATCH.min(ledger.capacity()) {
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
        }
        let done = std::mem::take(&mut worker.holding);
        let taken = ledger.take(&mut worker.batch, done, busy >= MAX_BUSY);
        busy = if taken == Taken::Busy { busy + 1 } else { 0 };
        match taken {
            Taken::Busy => {
                worker.holding = done;
                tokio::task::yield_now().await;
            }
            Taken::Finished => {
                if done {
                    worker.dispatcher.tasks.wake();
                }
                worker.dispatcher.queue.has_items.notify_waiters();
                return;
            }
            Taken::Batch {
                wake_emitters,
                wake_worker,
            } => {
                worker.holding = true;
                let queue = &worker.dispatcher.queue;
                if wake_emitters {
                    queue.has_room.notify_waiters();
                }
                if wake_worker {
                    queue.has_items.notify_one();
                }
                last_batch = worker.batch.len();
                while let Some(queue) = worker.batch.next_queue() {
                    if let Some(delivery) = queue.deliver_next(&worker.dispatcher) {
                        delivery.await;
                    }
                }
            }
            Taken::Nothing => {
                if done {
                    worker.dispatcher.tasks.wake();
                }
                let has_items = worker.dispatcher.queue.has_items.notified();
                tokio::pin!(has_items);
                has_items.as_mut().enable();
                worker.asleep = true;
                if worker.dispatcher.tasks.ledger.go_to_sleep() {
                    has_items.await;
                }
                worker.dispatcher.tasks.ledger.wake_up();
                worker.asleep = false;
            }
        }
    }
}

impl Bus {
    /// Queues `event` for delivery by the bus's worker and returns; waits
    /// while the queue is full.
    ///
    /// Events emitted from one task are delivered in order (with
    /// [`BusBuilder::workers`](crate::BusBuilder::workers) above 1 they
    /// start in order and may finish out of order). Failures of queued
    /// deliveries, which no caller sees, go to `on_error`, the dead
    /// letters and `tracing`.
    ///
    /// From inside a handler that the queue's worker runs, a full queue
    /// hands the event back at once ([`EmitErrorKind::Full`]): the worker
    /// it would wait for is the one running that handler.
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
    /// when no tokio runtime runs the caller and none was given to the
    /// bus, or when the queue is full and the caller is the queue's own
    /// worker.
    pub async fn emit<E: Event>(&self, event: E) -> Result<(), EmitError<E>> {
        self.emit_into(None, event).await
    }

    /// [`Bus::emit`], filing the event in the journal stream `stream`
    /// instead of the one named after the event (see
    /// [`BusBuilder::journal`](crate::BusBuilder::journal)); on a bus
    /// without a journal, the same as `emit`.
    ///
    /// # Errors
    ///
    /// As [`Bus::emit`].
    pub async fn emit_to<E: Event>(&self, stream: &str, event: E) -> Result<(), EmitError<E>> {
        self.emit_into(Some(stream), event).await
    }

    async fn emit_into<E: Event>(
        &self,
        stream: Option<&str>,
        event: E,
    ) -> Result<(), EmitError<E>> {
        if self.dispatcher.is_outward() {
            // Boxed: its journal and sink waits would make every `emit`
            // future as large, sinks or not.
            Box::pin(self.emit_outward(stream, event)).await
        } else {
            self.emit_queued(event, None, None).await
        }
    }

    /// [`Bus::emit`] on a bus with sinks or a journal: the commit, or the
    /// record and room for it in every sink's buffer, then the queue.
    async fn emit_outward<E: Event>(
        &self,
        stream: Option<&str>,
        event: E,
    ) -> Result<(), EmitError<E>> {
        let dispatcher = &self.dispatcher;
        if dispatcher.is_shut_down() {
            return Err(EmitError::new(EmitErrorKind::ShutDown, event));
        }
        // With a journal, accepted means committed: the relay delivers it.
        let event = match dispatcher.journal_emit(event, true, stream) {
            Err(event) => event,
            Ok(Err(refused)) => return Err(refused),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some((answer, event)))) => {
                return match answer.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(reason)) => Err(EmitError::not_committed(event, reason)),
                    Err(_) => Err(EmitError::not_committed(
                        event,
                        "the journal's committer stopped before it answered".to_owned(),
                    )),
                };
            }
        };
        // Accepted means in every sink's buffer too: room there first.
        let Some((envelope, record)) = dispatcher.stamp(&event) else {
            return self.emit_queued(event, None, None).await;
        };
        let reserved = match &dispatcher.sinks {
            Some(sinks) => {
                let reserved = if dispatcher.tasks.caller() == Caller::Worker {
                    sinks.try_reserve(E::__meta(), &record)
                } else {
                    sinks.reserve(E::__meta(), &record).await
                };
                match reserved {
                    Some(reserved) => Some(reserved),
                    None => return Err(EmitError::new(EmitErrorKind::Full, event)),
                }
            }
            None => None,
        };
        let sending = reserved.map(|reserved| (reserved, record));
        self.emit_queued(event, Some(Box::new(envelope)), sending)
            .await
    }

    /// Queues `event`, waiting for room; then hands its record to the
    /// sinks whose room was reserved for it.
    async fn emit_queued<E: Event>(
        &self,
        event: E,
        mut envelope: Option<Box<Envelope>>,
        sending: Option<(crate::sinks::Reserved<'_>, Arc<EventRecord>)>,
    ) -> Result<(), EmitError<E>> {
        let dispatcher = &self.dispatcher;
        let ledger = &dispatcher.tasks.ledger;
        let sent = |result: Result<(), EmitError<E>>| {
            if let (Ok(()), Some((reserved, record))) = (&result, sending) {
                reserved.send(&record);
            }
            result
        };
        {
            let mut intake = ledger.intake();
            match intake.refusal() {
                None => return sent(dispatcher.enqueue(intake, event, envelope)),
                Some(Refused::Closed) => {
                    return Err(EmitError::new(EmitErrorKind::ShutDown, event));
                }
                Some(Refused::Full) if dispatcher.tasks.caller() == Caller::Worker => {
                    return Err(EmitError::new(EmitErrorKind::Full, event));
                }
                Some(Refused::Full) => intake.start_waiting(),
            }
        }
        // Admitted before shutdown began: this event is delivered even if
        // the bus shuts down while it waits for room.
        let mut waiting = Waiting {
            dispatcher,
            counted: true,
        };
        // A handler of this bus waiting for room is work that waits.
        let _inside = dispatcher.tasks.waiting_inside(dispatcher.tasks.caller());
        let result = loop {
            let has_room = dispatcher.queue.has_room.notified();
            tokio::pin!(has_room);
            has_room.as_mut().enable();
            // A worker whose runtime ended meanwhile is replaced.
            dispatcher.restart_worker();
            {
                let mut intake = ledger.intake();
                if !intake.is_full() {
                    intake.stop_waiting();
                    waiting.counted = false;
                    break dispatcher.enqueue(intake, event, envelope.take());
                }
            }
            has_room.await;
        };
        dispatcher.tasks.wake();
        sent(result)
    }

    /// Queues `event` if there is room, without waiting.
    ///
    /// # Errors
    ///
    /// Hands the event back in an [`EmitError`] when the queue is full,
    /// the bus is shut down, or there is no runtime for the worker.
    pub fn try_emit<E: Event>(&self, event: E) -> Result<(), EmitError<E>> {
        let dispatcher = &self.dispatcher;
        if dispatcher.is_outward() {
            return self.try_emit_outward(event);
        }
        self.try_enqueue(event, None, None)
    }

    /// Queues `event` if there is room, without waiting; then hands its
    /// record to the sinks whose room was reserved for it.
    // Always: `try_emit` calls it with no record, and its queue path must
    // stay inlined into the caller's loop (left to LLVM, it was not).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn try_enqueue<E: Event>(
        &self,
        event: E,
        envelope: Option<Box<Envelope>>,
        sending: Option<(crate::sinks::Reserved<'_>, Arc<EventRecord>)>,
    ) -> Result<(), EmitError<E>> {
        let dispatcher = &self.dispatcher;
        let intake = dispatcher.tasks.ledger.intake();
        match intake.refusal() {
            None => {
                let result = dispatcher.enqueue(intake, event, envelope);
                if let (Ok(()), Some((reserved, record))) = (&result, sending) {
                    reserved.send(&record);
                }
                result
            }
            Some(Refused::Closed) => Err(EmitError::new(EmitErrorKind::ShutDown, event)),
            Some(Refused::Full) => Err(EmitError::new(EmitErrorKind::Full, event)),
        }
    }

    /// [`Bus::try_emit`] on a bus with sinks or a journal: kept out of
    /// line, so the queue's own path stays small.
    #[inline(never)]
    fn try_emit_outward<E: Event>(&self, event: E) -> Result<(), EmitError<E>> {
        let dispatcher = &self.dispatcher;
        if dispatcher.is_shut_down() {
            return Err(EmitError::new(EmitErrorKind::ShutDown, event));
        }
        // With a journal the append goes to the group commit; a failed
        // one is reported to the hooks.
        let event = match dispatcher.journal_emit(event, false, None) {
            Err(event) => event,
            Ok(Err(refused)) => return Err(refused),
            Ok(Ok(_)) => return Ok(()),
        };
        let Some((envelope, record)) = dispatcher.stamp(&event) else {
            return self.try_enqueue(event, None, None);
        };
        let reserved = match &dispatcher.sinks {
            Some(sinks) => match sinks.try_reserve(E::__meta(), &record) {
                Some(reserved) => Some(reserved),
                None => return Err(EmitError::new(EmitErrorKind::Full, event)),
            },
            None => None,
        };
        let sending = reserved.map(|reserved| (reserved, record));
        self.try_enqueue(event, Some(Box::new(envelope)), sending)
    }

    /// Waits until every record the bus has accepted so far has been sent
    /// by every sink that takes it, or has failed for good (then it is in
    /// the dead letters); then lets each sink flush its own buffers
    /// ([`Sink::flush`](crate::Sink::flush)). Returns at once on a bus
    /// without sinks.
    ///
    /// Records of events still queued are accepted already; follow-ups
    /// their handlers publish later are not waited for (call
    /// [`idle`](Self::idle) first for those). With a journal, the sinks'
    /// relays first read the log to its end and hand their sinks what
    /// they take, whoever appended it; while the journal cannot be read,
    /// `flush` waits (bound it with `tokio::time::timeout` if that must
    /// not be; `shutdown` bounds it by its `shutdown_timeout`).
    pub async fn flush(&self) {
        let Some(sinks) = &self.dispatcher.sinks else {
            return;
        };
        if let Some(journaling) = &self.dispatcher.journaling {
            // The sinks' relays first read the log to its end: each is
            // woken, and waited for until it has twice found nothing more
            // to read (a read under way when this began may have started
            // before the last commits).
            let laps: Vec<u64> = journaling
                .sink_laps
                .iter()
                .map(|laps| laps.load(std::sync::atomic::Ordering::Acquire))
                .collect();
            for round in 1..=2 {
                journaling.appended.notify_waiters();
                for (at, lap) in laps.iter().enumerate() {
                    let reached =
                        || journaling.sink_laps[at].load(std::sync::atomic::Ordering::Acquire);
                    journaling.wait_for(reached, lap + round).await;
                }
            }
        }
        sinks.flush().await;
    }

    /// Whether the bus has a journal
    /// ([`BusBuilder::journal`](crate::BusBuilder::journal)): then
    /// [`deliver_async`](Bus::deliver_async) returns once the record is
    /// committed to it.
    #[must_use]
    pub fn has_journal(&self) -> bool {
        self.dispatcher.journaling.is_some()
    }

    /// What each sink of the bus has sent, failed and still holds, in the
    /// order the sinks were added; empty without sinks. Counted whether or
    /// not the metrics layer is installed.
    #[must_use]
    pub fn sinks(&self) -> Vec<SinkStats> {
        self.dispatcher
            .sinks
            .as_ref()
            .map_or_else(Vec::new, crate::sinks::Sinks::stats)
    }

    /// Waits until nothing is in flight: the queue is empty and every
    /// handler the bus spawned has finished.
    ///
    /// Called from inside a handler of this bus, it does not wait for the
    /// caller: from a spawned handler, it waits for everything else; from
    /// a handler the queue's worker runs, for the other work in flight but
    /// not for the events queued behind the caller, which that worker
    /// delivers after the handler returns.
    pub async fn idle(&self) {
        loop {
            // A worker whose runtime ended meanwhile is replaced at each look.
            self.dispatcher
                .tasks
                .idle(|| self.dispatcher.restart_worker())
                .await;
            // With a journal, events emitted so far reach their handlers
            // through the relay; what those handlers emit, in turn.
            let Some(journaling) = &self.dispatcher.journaling else {
                return;
            };
            let committed = journaling.committed();
            if journaling
                .relayed
                .load(std::sync::atomic::Ordering::Acquire)
                >= committed
            {
                return;
            }
            journaling
                .wait_for(
                    || {
                        journaling
                            .relayed
                            .load(std::sync::atomic::Ordering::Acquire)
                    },
                    committed,
                )
                .await;
        }
    }

    /// Stops accepting events, delivers everything queued and in flight,
    /// then lets the sinks send what they hold, then returns. Nothing
    /// accepted is lost.
    ///
    /// In that order: intake stops; the queue and the handlers drain; the
    /// sinks flush, for at most
    /// [`BusBuilder::shutdown_timeout`](crate::BusBuilder::shutdown_timeout)
    /// (what they still hold then goes to the dead letters and `on_error`
    /// as [`FailureKind::Abandoned`](crate::FailureKind::Abandoned), with
    /// its record); then each sink closes.
    ///
    /// Afterwards `publish` returns a report with one
    /// [`FailureKind::ShutDown`](crate::FailureKind::ShutDown) failure, and
    /// `emit`/`try_emit` hand the event back. Follow-ups published during
    /// the drain, and `emit` calls already waiting for room when shutdown
    /// began, are delivered.
    ///
    /// Called from inside a handler of this bus, it stops intake and waits
    /// as [`idle`](Self::idle) does from there: not for the caller, nor for
    /// the events queued behind it, which are still delivered.
    pub async fn shutdown(&self) {
        self.dispatcher.set_shut_down();
        self.dispatcher.close_queue();
        let journaling = self.dispatcher.journaling.as_ref();
        let deadline = if journaling.is_none() {
            self.idle().await;
            tokio::time::Instant::now() + self.dispatcher.shutdown_timeout
        } else {
            // The handler relay drains what was committed, as far as time
            // allows: a journal that cannot be read must not hold shutdown,
            // and what is not relayed stays in the log. The queue and the
            // handlers in flight are drained in full, as without one.
            let deadline = tokio::time::Instant::now() + self.dispatcher.shutdown_timeout;
            let _ = tokio::time::timeout_at(deadline, self.idle()).await;
            self.dispatcher
                .tasks
                .idle(|| self.dispatcher.restart_worker())
                .await;
            deadline
        };
        if let (Some(journaling), Some(sinks)) = (journaling, &self.dispatcher.sinks) {
            // The sinks' relays catch up with the log, as far as time
            // allows; what they have not sent stays pending there.
            let committed = journaling.committed();
            for at in 0..sinks.len() {
                let reached =
                    || journaling.sink_positions[at].load(std::sync::atomic::Ordering::Acquire);
                let caught_up = journaling.wait_for(reached, committed);
                let _ = tokio::time::timeout_at(deadline, caught_up).await;
            }
        }
        if let Some(journaling) = journaling {
            journaling.stop();
            // The relays release their names, so another process can
            // take over at once.
            let released = journaling.progress.until(|| {
                journaling
                    .running
                    .load(std::sync::atomic::Ordering::Acquire)
                    == 0
            });
            let _ = tokio::time::timeout_at(deadline, released).await;
        }
        if let Some(sinks) = &self.dispatcher.sinks {
            sinks.shut_down(deadline).await;
        }
    }
}
