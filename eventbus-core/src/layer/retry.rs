//! [`RetryLayer`]: failed calls tried again, with exponential backoff and
//! jitter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{BoxFuture, Call, Layer, Next, NextAsync};
use crate::handler::BoxError;

/// How a failed call is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many times a failed call is tried again, for handlers without
    /// their own `#[subscribe(retry = N)]`.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles before each next one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Whether each wait is drawn at random between half of it and all of
    /// it, so that many failing calls do not retry in step.
    pub jitter: bool,
    /// Whether a sync handler's retries wait too, blocking the thread that
    /// publishes. Off by default: sync retries are immediate.
    pub sleep_sync: bool,
}

impl RetryPolicy {
    /// Retries up to `max_retries` times, waiting 10 ms, 20 ms, 40 ms, ...
    /// (at most 1 s) with jitter between async attempts.
    #[must_use]
    pub fn new(max_retries: u32) -> Self {
        Self {
            max_retries,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
            jitter: true,
            sleep_sync: false,
        }
    }

    /// Sets the first wait.
    #[must_use]
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.initial_backoff = wait;
        self
    }

    /// Sets the longest wait.
    #[must_use]
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.max_backoff = wait;
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Makes sync retries wait too (blocking the publishing thread).
    #[must_use]
    pub fn sleep_sync(mut self, sleep: bool) -> Self {
        self.sleep_sync = sleep;
        self
    }

    /// The wait before retry number `retry` (1 for the first): the initial
    /// wait doubled `retry - 1` times, at most `max_backoff`, then drawn
    /// between half and all of it when `jitter` is on.
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let wait = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        if !self.jitter {
            return wait;
        }
        let half = wait / 2;
        let spread = u64::try_from(wait.saturating_sub(half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random() % spread.max(1))
    }
}

impl Default for RetryPolicy {
    /// No retries unless a handler asks for them with `retry = N`.
    fn default() -> Self {
        Self::new(0)
    }
}

/// A random number for jitter; quality matters little, so it comes from
/// the standard library's hasher seeds rather than another dependency.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Tries a failed call again: `#[subscribe(retry = N)]` times, or the
/// policy's `max_retries` for handlers that do not say. Async handlers
/// await the backoff between attempts; sync ones retry at once unless the
/// policy's `sleep_sync` is on. A handler that fails N times then succeeds
/// makes N + 1 calls and an ok report; a failure after the last attempt
/// goes on (to the report, `on_error` and the dead letters) with
/// [`HandlerFailure::attempts`](crate::HandlerFailure::attempts) set.
///
/// Follow-up events published by a failed attempt are discarded.
///
/// The bus adds one with the default policy, innermost, when a handler
/// asks for retries and no retry layer was added.
#[derive(Debug, Clone, Default)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    /// A layer with this policy.
    #[must_use]
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy }
    }

    /// The layer's policy.
    #[must_use]
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn retries(&self, call: &Call<'_>) -> u32 {
        match call.handler().retry() {
            0 => self.policy.max_retries,
            own => own,
        }
    }
}

impl Layer for RetryLayer {
    fn enforces_retry(&self) -> bool {
        true
    }

    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let retries = self.retries(call);
        let mut retry = 0;
        loop {
            let result = next.run();
            if result.is_ok() || retry == retries {
                return result;
            }
            retry += 1;
            if self.policy.sleep_sync {
                std::thread::sleep(self.policy.backoff(retry));
            }
        }
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let retries = self.retries(call);
        Box::pin(async move {
            let mut retry = 0;
            loop {
                let result = next.run().await;
                if result.is_ok() || retry == retries {
                    return result;
                }
                retry += 1;
                // The backoff needs tokio's timer; on another executor the
                // retry comes at once, as in a build without tokio.
                #[cfg(feature = "tokio")]
                if tokio::runtime::Handle::try_current().is_ok() {
                    tokio::time::sleep(self.policy.backoff(retry)).await;
                }
            }
        })
    }
}
