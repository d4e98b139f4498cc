//! The handler relay: hands the events a bus emitted into its journal to
//! the handlers, reading them back from the log, and keeps its place there
//! under a named checkpoint.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::bus::Bus;
use crate::dispatcher::Dispatcher;
use crate::envelope::Uuid;
use crate::journal::{Journal, Logged};
use crate::journaling::{HANDLER_RELAY, POLL, RELAY_BATCH};
use crate::report::HandlerFailure;

/// How long a relay's claim on its name lasts unless renewed: how long
/// the relays of a process that died without releasing them wait before
/// another process takes over (on logs whose claims expire, such as
/// SQLite's leases).
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(5);

/// Starts the relays of a bus with a journal: one for the handlers, one
/// per sink.
pub(crate) fn start(dispatcher: &Arc<Dispatcher>, runtime: &tokio::runtime::Handle) {
    let Some(journaling) = dispatcher.journaling.as_ref() else {
        return;
    };
    let lease = |name: String| Lease {
        journal: Arc::clone(&journaling.journal),
        name,
        holder: journaling.holder,
        renewed: None,
        unsaved: None,
        saved: Instant::now(),
    };
    journaling.running.fetch_add(1, Ordering::AcqRel);
    runtime.spawn(released(
        Arc::downgrade(dispatcher),
        lease(HANDLER_RELAY.to_owned()),
        |dispatcher, lease| Box::pin(handler_relay(dispatcher, lease)),
    ));
    if let Some(sinks) = dispatcher.sinks.as_ref() {
        for at in 0..sinks.len() {
            journaling.running.fetch_add(1, Ordering::AcqRel);
            runtime.spawn(released(
                Arc::downgrade(dispatcher),
                lease(format!("sink:{}", sinks.name(at))),
                move |dispatcher, lease| Box::pin(sink_relay(dispatcher, at, lease)),
            ));
        }
    }
}

/// Runs a relay, then gives up its claim on its name and counts it out.
async fn released(
    dispatcher: Weak<Dispatcher>,
    mut lease: Lease,
    relay: impl for<'l> FnOnce(Weak<Dispatcher>, &'l mut Lease) -> crate::layer::BoxFuture<'l, ()>,
) {
    relay(Weak::clone(&dispatcher), &mut lease).await;
    lease.release().await;
    if let Some(strong) = dispatcher.upgrade() {
        if let Some(journaling) = strong.journaling.as_ref() {
            journaling.running.fetch_sub(1, Ordering::AcqRel);
            journaling.progress.wake();
        }
    }
}

/// A relay's claim on its name in the journal: one holder per name across
/// processes.
struct Lease {
    journal: Arc<dyn Journal>,
    name: String,
    holder: Uuid,
    /// When the claim was last made or renewed; `None` while not held.
    renewed: Option<Instant>,
    /// The place reached but not saved yet, and when it was last saved.
    unsaved: Option<u64>,
    saved: Instant,
}

/// How often at most a busy relay saves its checkpoint (a write each):
/// after a crash, at most this much of the log is delivered again. A
/// relay that reaches the end of the log, stops or loses its claim saves
/// at once.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl Lease {
    /// Notes that the relay has reached `position`; saves it as the
    /// checkpoint when the last save is [`CHECKPOINT_EVERY`] old.
    async fn reached(&mut self, position: u64) {
        self.unsaved = Some(position);
        if self.saved.elapsed() >= CHECKPOINT_EVERY {
            self.save().await;
        }
    }

    /// Saves the place reached, if it is not saved yet.
    async fn save(&mut self) {
        let Some(position) = self.unsaved.take() else {
            return;
        };
        self.saved = Instant::now();
        if let Err(error) = self.journal.save_checkpoint(&self.name, position).await {
            let name = &self.name;
            tracing::error!(target: "eventbus", "relay `{name}` could not save its checkpoint: {error}");
        }
    }

    /// Whether the relay holds its name now; makes or renews the claim
    /// when it is a third of the way to expiring.
    async fn keep(&mut self) -> bool {
        if self
            .renewed
            .is_some_and(|renewed| renewed.elapsed() < LEASE_TTL / 3)
        {
            return true;
        }
        // The claim runs from before it was asked for: the journal counts
        // its time from then or later.
        let asked = Instant::now();
        match self.journal.hold(&self.name, self.holder, LEASE_TTL).await {
            Ok(true) => {
                self.renewed = Some(asked);
                true
            }
            Ok(false) => {
                self.renewed = None;
                false
            }
            Err(error) => {
                let name = &self.name;
                tracing::error!(target: "eventbus", "relay `{name}` could not claim its name in the journal: {error}");
                self.renewed = None;
                false
            }
        }
    }

    /// Saves what is unsaved and gives the claim up, if held.
    async fn release(&mut self) {
        self.save().await;
        if self.renewed.take().is_some() {
            if let Err(error) = self.journal.release(&self.name, self.holder).await {
                let name = &self.name;
                tracing::error!(target: "eventbus", "relay `{name}` could not release its name in the journal: {error}");
            }
        }
    }
}

/// Reads the log from the checkpoint of sink number `at` (`sink:NAME`)
/// and hands the sink every record it takes (of a type it wants, not
/// brought in through it, not replayed); saves the checkpoint once the
/// sink has sent (or given up on) the batch. A record is sent at least
/// once: after a crash the batch in flight is sent again.
async fn sink_relay(dispatcher: Weak<Dispatcher>, at: usize, lease: &mut Lease) {
    let mut position = None;
    loop {
        let Some(strong) = dispatcher.upgrade() else {
            return;
        };
        let (Some(journaling), Some(sinks)) = (strong.journaling.as_ref(), strong.sinks.as_ref())
        else {
            return;
        };
        if journaling.stopping.load(Ordering::Acquire) {
            return;
        }
        if !lease.keep().await {
            // What this relay reached while it held the name (a
            // checkpoint never moves back).
            lease.save().await;
            // Another process relays this sink: its checkpoint is this
            // bus's progress too (for `flush`); look again later.
            position = None;
            if let Ok(reached) = journaling.journal.checkpoint(&lease.name).await {
                journaling.sink_positions[at].fetch_max(reached, Ordering::AcqRel);
                // A lap once the holder has sent what this bus committed.
                if reached >= journaling.committed() {
                    journaling.sink_laps[at].fetch_add(1, Ordering::AcqRel);
                }
                journaling.progress.wake();
            }
            drop(strong);
            tokio::time::sleep(POLL).await;
            continue;
        }
        let journal = Arc::clone(&journaling.journal);
        let appended = Arc::clone(&journaling.appended);
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        // The relay's checkpoint is named as its claim: `sink:NAME`.
        let Some((after, batch)) = next_batch(&*journal, &lease.name, &mut position).await else {
            drop(strong);
            tokio::time::sleep(POLL).await;
            continue;
        };
        if batch.is_empty() {
            // At the end of the log: the place is saved before `flush`
            // counts the lap.
            lease.save().await;
            journaling.sink_positions[at].fetch_max(after, Ordering::AcqRel);
            journaling.sink_laps[at].fetch_add(1, Ordering::AcqRel);
            journaling.progress.wake();
            drop(strong);
            let _ = tokio::time::timeout(POLL, woken).await;
            continue;
        }
        let mut reached = after;
        let mut lost = false;
        for logged in batch {
            if journaling.stopping.load(Ordering::Acquire) {
                // The bus is shutting down: the rest stays pending in the
                // log, and its sink closes soon.
                return;
            }
            if !lease.keep().await {
                // Another process holds the name now: it goes on from the
                // checkpoint, so the rest of the batch is its.
                lost = true;
                break;
            }
            let mut record = logged.record;
            // A sink fed from the log sees each record's log position as
            // its sequence, whichever journal kept it.
            record.envelope.sequence = logged.position;
            let meta = crate::record_json::find_event(&record.name).ok();
            let takes = meta.is_some_and(|meta| {
                record.envelope.origin != crate::envelope::Origin::Replay
                    && sinks.takes(at, meta, &record)
            });
            if let (true, Some(meta)) = (takes, meta) {
                if !sinks.hand_over(at, meta, Arc::new(record)).await {
                    // The sink's worker has stopped: the rest stays in the
                    // log for the next run.
                    return;
                }
            }
            reached = logged.position;
        }
        sinks.settle(at).await;
        if journaling.stopping.load(Ordering::Acquire) {
            // Stopped mid-batch: what was not sent stays pending.
            return;
        }
        lease.reached(reached).await;
        if lost {
            lease.save().await;
        }
        position = (!lost).then_some(reached);
        journaling.sink_positions[at].fetch_max(reached, Ordering::AcqRel);
        journaling.progress.wake();
    }
}

/// Reads the log from the handler relay's checkpoint and delivers each
/// record whose handlers have not run (`handled == false`), keeping its
/// envelope; saves the checkpoint after each batch. Ends when the bus is
/// gone or shut down.
async fn handler_relay(dispatcher: Weak<Dispatcher>, lease: &mut Lease) {
    let mut position = None;
    loop {
        let Some(strong) = dispatcher.upgrade() else {
            return;
        };
        let Some(journaling) = strong.journaling.as_ref() else {
            return;
        };
        if journaling.stopping.load(Ordering::Acquire) {
            return;
        }
        if !lease.keep().await {
            lease.save().await;
            // Another process relays to the handlers: its checkpoint is
            // this bus's progress too (for `idle`); look again later.
            position = None;
            if let Ok(reached) = journaling.journal.checkpoint(&lease.name).await {
                journaling.relayed.fetch_max(reached, Ordering::AcqRel);
                journaling.progress.wake();
            }
            drop(strong);
            tokio::time::sleep(POLL).await;
            continue;
        }
        let journal = Arc::clone(&journaling.journal);
        let appended = Arc::clone(&journaling.appended);
        // Woken by a commit made while this reads.
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let Some((after, batch)) = next_batch(&*journal, HANDLER_RELAY, &mut position).await else {
            drop(strong);
            tokio::time::sleep(POLL).await;
            continue;
        };
        if batch.is_empty() {
            lease.save().await;
            journaling.relayed.fetch_max(after, Ordering::AcqRel);
            journaling.progress.wake();
            // Not holding the bus while it waits.
            drop(strong);
            let _ = tokio::time::timeout(POLL, woken).await;
            continue;
        }
        let bus = Bus::from_dispatcher(&strong);
        let mut reached = after;
        let mut lost = false;
        for logged in batch {
            if !lease.keep().await {
                // Another process holds the name now: it goes on from the
                // checkpoint, so the rest of the batch is its.
                lost = true;
                break;
            }
            if !logged.handled {
                let record = Arc::new(logged.record);
                let inbound = bus.inbound((*record).clone()).relayed();
                if let Err(error) = inbound.deliver_async().await {
                    // A record this program cannot read (an unknown name,
                    // a payload that does not decode) goes to the hooks
                    // with the record, and the relay goes on.
                    let message = format!(
                        "the handler relay could not deliver the record at position {} of the \
                         journal: {error}",
                        logged.position
                    );
                    tracing::error!(target: "eventbus", event = &*record.name, event_id = %record.envelope.id, "{message}");
                    let event = crate::record_json::find_event(&record.name)
                        .map_or("(unknown event)", crate::meta::EventMeta::name);
                    let failure = HandlerFailure::undeliverable(record, event, message);
                    // Caught: a hook's panic must not end the relay.
                    strong.hooks.report(std::slice::from_ref(&failure), true);
                }
            }
            reached = logged.position;
        }
        lease.reached(reached).await;
        if lost {
            lease.save().await;
        }
        position = (!lost).then_some(reached);
        journaling.relayed.fetch_max(reached, Ordering::AcqRel);
        journaling.progress.wake();
    }
}

/// The next batch after the relay `relay`'s place in the log (read from
/// its checkpoint the first time), with that place; `None` when the
/// journal could not be read (logged: the caller waits and tries again).
async fn next_batch(
    journal: &dyn Journal,
    relay: &str,
    position: &mut Option<u64>,
) -> Option<(u64, Vec<Logged>)> {
    let after = match *position {
        Some(after) => after,
        None => match journal.checkpoint(relay).await {
            Ok(after) => *position.insert(after),
            Err(error) => {
                tracing::error!(target: "eventbus", "relay `{relay}` could not read its checkpoint: {error}");
                return None;
            }
        },
    };
    match journal.read_after(after, RELAY_BATCH).await {
        Ok(batch) => Some((after, batch)),
        Err(error) => {
            tracing::error!(target: "eventbus", "relay `{relay}` could not read the journal: {error}");
            None
        }
    }
}
