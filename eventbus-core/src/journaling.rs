//! A bus's journal at work: the group commit that appends every accepted
//! event, and the positions the relays have reached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use crate::hooks::Hooks;
use crate::journal::{Journal, JournalEntry};
use crate::report::{take_panic, HandlerFailure};
use crate::signal::Signal;

/// How long a relay that has caught up waits before it looks at the log
/// again, when no commit of this bus wakes it: records other processes
/// append show up within this time.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// How many records a relay reads at once.
pub(crate) const RELAY_BATCH: usize = 256;

/// The name of the relay that hands emitted events to the handlers.
pub(crate) const HANDLER_RELAY: &str = "handlers";

/// Whether a commit succeeded; the journal's error text when not.
pub(crate) type Committed = Result<(), String>;

/// A bus's journal and its group commit.
pub(crate) struct Journaling {
    pub(crate) journal: Arc<dyn Journal>,
    commits: mpsc::UnboundedSender<Commit>,
    /// The highest position this bus has committed.
    committed: Arc<AtomicU64>,
    /// The position the handler relay has handed to the handlers.
    pub(crate) relayed: AtomicU64,
    /// The position each sink's relay has sent, by sink.
    pub(crate) sink_positions: Box<[AtomicU64]>,
    /// How often each sink's relay found nothing more to read, by sink:
    /// one more after a wake-up means it has reached the end of the log.
    pub(crate) sink_laps: Box<[AtomicU64]>,
    /// Wakes the relays: after each commit, and to stop them.
    pub(crate) appended: Arc<Notify>,
    /// Wakes whoever waits for the relays (`idle`, `flush`, `shutdown`):
    /// after each relay step, and each commit.
    pub(crate) progress: Signal,
    /// Whether the relays are to stop.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// How many relays run; each counts itself out once it has released
    /// its name.
    pub(crate) running: std::sync::atomic::AtomicUsize,
    /// Who this bus is when its relays claim their names in the journal.
    pub(crate) holder: crate::envelope::Uuid,
    hooks: Arc<Hooks>,
}

/// Entries waiting for the group commit, and who waits for the outcome:
/// nobody for `publish` and `try_emit`, whose failed commits the hooks get.
struct Commit {
    entries: Vec<(JournalEntry, &'static str)>,
    reply: Option<oneshot::Sender<Committed>>,
}

impl Journaling {
    /// Starts the group commit on `runtime`.
    pub(crate) fn start(
        journal: Arc<dyn Journal>,
        hooks: Arc<Hooks>,
        sinks: usize,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (commits, receiver) = mpsc::unbounded_channel();
        let committed = Arc::new(AtomicU64::new(0));
        let appended = Arc::new(Notify::new());
        runtime.spawn(group_commit(
            Arc::clone(&journal),
            receiver,
            Arc::clone(&committed),
            Arc::clone(&appended),
            Arc::clone(&hooks),
        ));
        Self {
            journal,
            commits,
            committed,
            relayed: AtomicU64::new(0),
            sink_positions: (0..sinks).map(|_| AtomicU64::new(0)).collect(),
            sink_laps: (0..sinks).map(|_| AtomicU64::new(0)).collect(),
            appended,
            progress: Signal::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
            holder: crate::envelope::Envelope::generate().id,
            hooks,
        }
    }

    /// Hands `entry` (of the event named `event`) to the group commit and
    /// returns the answer to await. Should the awaiting caller go away, a
    /// failed commit is reported to `on_error` and the dead letters.
    pub(crate) fn submit(
        &self,
        entry: JournalEntry,
        event: &'static str,
    ) -> oneshot::Receiver<Committed> {
        let (reply, answer) = oneshot::channel();
        self.send(Commit {
            entries: vec![(entry, event)],
            reply: Some(reply),
        });
        answer
    }

    /// Hands `entry` to the group commit without waiting: a failed commit
    /// is reported to `on_error` and the dead letters as abandoned, with
    /// its record.
    pub(crate) fn submit_unawaited(&self, entry: JournalEntry, event: &'static str) {
        self.send(Commit {
            entries: vec![(entry, event)],
            reply: None,
        });
    }

    fn send(&self, commit: Commit) {
        if let Err(refused) = self.commits.send(commit) {
            // The committer ended with its runtime: nothing is stored.
            refused.0.fail(
                "the journal's committer has stopped: its runtime ended",
                &self.hooks,
            );
        }
    }

    /// Stops the relays.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.appended.notify_waiters();
        self.progress.wake();
    }

    /// The highest position this bus has committed.
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Waits until `reached` is at least `position`, woken by `progress`.
    pub(crate) async fn wait_for(&self, reached: impl Fn() -> u64, position: u64) {
        self.progress
            .until(|| reached() >= position || self.stopping.load(Ordering::Acquire))
            .await;
    }
}

impl Commit {
    /// Tells the waiting caller the commit failed, or, when nobody waits,
    /// reports it to the hooks.
    fn fail(self, error: &str, hooks: &Hooks) {
        let Commit { entries, reply } = self;
        if let Some(reply) = reply {
            if reply.send(Err(error.to_owned())).is_ok() {
                return;
            }
        }
        let failures: Vec<HandlerFailure> = entries
            .into_iter()
            .map(|(entry, event)| HandlerFailure::not_stored(entry.record, event, error))
            .collect();
        // A panicking hook is caught: this runs on the committer's task.
        hooks.report(&failures, true);
    }
}

/// The group commit: everything submitted while an append runs goes into
/// the next one, in the order it was submitted.
async fn group_commit(
    journal: Arc<dyn Journal>,
    mut commits: mpsc::UnboundedReceiver<Commit>,
    committed: Arc<AtomicU64>,
    appended: Arc<Notify>,
    hooks: Arc<Hooks>,
) {
    while let Some(first) = commits.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = commits.try_recv() {
            batch.push(more);
        }
        let entries: Vec<JournalEntry> = batch
            .iter()
            .flat_map(|commit| commit.entries.iter().map(|(entry, _)| entry.clone()))
            .collect();
        match append_catching(&*journal, &entries).await {
            Ok(positions) => {
                if let Some(&last) = positions.iter().max() {
                    committed.fetch_max(last, Ordering::AcqRel);
                }
                appended.notify_waiters();
                for commit in batch {
                    if let Some(reply) = commit.reply {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
            Err(error) => {
                for commit in batch {
                    commit.fail(&error, &hooks);
                }
            }
        }
    }
}

/// `journal.append(entries)`, a panic of the journal's (in the call or
/// while polling) turned into an error, so every commit of the batch is
/// answered or reported and the committer goes on.
async fn append_catching(
    journal: &dyn Journal,
    entries: &[JournalEntry],
) -> Result<Vec<u64>, String> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::Poll;

    let panicked = |payload| format!("the journal panicked: {}", take_panic(payload));
    let mut appending = match catch_unwind(AssertUnwindSafe(|| journal.append(entries))) {
        Ok(appending) => appending,
        Err(payload) => return Err(panicked(payload)),
    };
    std::future::poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| appending.as_mut().poll(cx))) {
            Ok(Poll::Ready(outcome)) => Poll::Ready(outcome.map_err(|error| error.to_string())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(payload))),
        }
    })
    .await
}
