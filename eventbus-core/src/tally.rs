//! [`Tally`]: how many records a sink was handed, sent and gave up on,
//! and the wait for all of them to settle that `flush` and `shutdown` do.

use crate::signal::Signal;
use crate::sync::{AtomicBool, AtomicU64};
use std::sync::atomic::Ordering;

/// The counts of one sink's records. Every record counted as accepted is
/// later counted as sent or as failed, exactly once, and each change of
/// those two counts is followed by a wake-up, so a [`settle`](Self::settle)
/// returns as soon as what was accepted before it began is done.
pub struct Tally {
    accepted: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    /// The worker has ended: nothing more will be sent.
    ended: AtomicBool,
    changed: Signal,
}

/// What a [`Tally`] counted, read at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Sent for good.
    pub sent: u64,
    /// Failed for good.
    pub failed: u64,
    /// Accepted and not yet sent or failed.
    pub waiting: u64,
}

impl Tally {
    /// A tally of nothing yet.
    pub fn new() -> Self {
        Self {
            accepted: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            changed: Signal::new(),
        }
    }

    /// A record is handed to the sink's buffer (counted before it is, so
    /// it can never be counted done before it is counted accepted).
    pub fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::AcqRel);
    }

    /// A record counted as accepted could not be handed over (the buffer
    /// is full, the worker gone): it failed, and whoever waits is woken,
    /// as no worker will be.
    pub fn refused(&self) {
        self.failed();
        self.wake();
    }

    /// A record was sent. Call [`wake`](Self::wake) after a batch of these.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    /// A record failed for good. Call [`wake`](Self::wake) after a batch of
    /// these.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::AcqRel);
    }

    /// Wakes whoever waits in [`settle`](Self::settle).
    pub fn wake(&self) {
        self.changed.wake();
    }

    /// The worker has ended; no wait for it goes on.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.changed.wake();
    }

    /// Whether the worker has ended.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Waits until every record accepted before the call has been sent or
    /// has failed, or the worker has ended.
    pub async fn settle(&self) {
        let target = self.accepted.load(Ordering::Acquire);
        self.changed
            .until(|| self.done() >= target || self.has_ended())
            .await;
    }

    /// Waits until the worker has ended.
    pub async fn ended(&self) {
        self.changed.until(|| self.has_ended()).await;
    }

    /// Sent plus failed. Each count only grows, so the sum of two loads is
    /// never more than the true sum at the second load.
    fn done(&self) -> u64 {
        self.sent.load(Ordering::Acquire) + self.failed.load(Ordering::Acquire)
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        // A record accepted and done between these loads counts as done
        // but not as accepted: `waiting` saturates at zero.
        let accepted = self.accepted.load(Ordering::Acquire);
        let sent = self.sent.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        Counts {
            sent,
            failed,
            waiting: accepted.saturating_sub(sent + failed),
        }
    }
}
