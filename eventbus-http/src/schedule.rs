//! [`RetrySchedule`]: when a webhook is tried again.

use std::sync::Arc;
use std::time::Duration;

use crate::error::WebhookError;

/// When each try of a webhook happens: the wait before it, counted from
/// the end of the try before (the first entry is the wait before the
/// first try, normally none). A webhook not delivered after the last try
/// goes to the dead letters. A receiver's `Retry-After` replaces the
/// scheduled wait, up to the schedule's longest.
///
/// ```
/// use std::time::Duration;
///
/// use eventbus_http::RetrySchedule;
///
/// let svix = RetrySchedule::default();
/// assert_eq!(svix.attempts(), 8);
/// assert_eq!(svix.delays()[1], Duration::from_secs(5));
///
/// let short = RetrySchedule::new([0, 1_000, 2_000, 5_000].map(Duration::from_millis))?;
/// assert_eq!(short.attempts(), 4);
/// # Ok::<(), eventbus_http::WebhookError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Arc<[Duration]>,
}

impl RetrySchedule {
    /// A schedule of these waits, one per try.
    ///
    /// # Errors
    ///
    /// [`WebhookError::EmptySchedule`] for no waits at all.
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Result<Self, WebhookError> {
        let delays: Arc<[Duration]> = delays.into_iter().collect();
        if delays.is_empty() {
            return Err(WebhookError::EmptySchedule);
        }
        Ok(Self { delays })
    }

    /// Tries in all.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// The wait before each try.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The wait before try number `attempt` (1 for the first), or `None`
    /// past the last.
    pub(crate) fn before(&self, attempt: u32) -> Option<Duration> {
        let at = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.delays.get(at).copied()
    }

    /// The wait before try number `attempt` when the receiver asked for
    /// `retry_after`: its wish, up to the schedule's longest wait.
    pub(crate) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let scheduled = self.before(attempt)?;
        let longest = self.delays.iter().max().copied().unwrap_or_default();
        Some(retry_after.map_or(scheduled, |asked| asked.min(longest)))
    }
}

impl Default for RetrySchedule {
    /// Svix's: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
    /// 10 h after each failed try.
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        let seconds = [
            0,
            5,
            5 * MINUTE,
            30 * MINUTE,
            2 * HOUR,
            5 * HOUR,
            10 * HOUR,
            10 * HOUR,
        ];
        Self {
            delays: seconds.into_iter().map(Duration::from_secs).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_and_honour_retry_after() {
        let schedule = RetrySchedule::new([0, 100, 300].map(Duration::from_millis)).unwrap();
        assert_eq!(schedule.before(1), Some(Duration::ZERO));
        assert_eq!(schedule.before(3), Some(Duration::from_millis(300)));
        assert_eq!(schedule.before(4), None);
        assert_eq!(schedule.before(0), None);
        assert_eq!(
            schedule.wait(2, Some(Duration::from_millis(250))),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            schedule.wait(2, Some(Duration::from_secs(3600))),
            Some(Duration::from_millis(300))
        );
        assert_eq!(schedule.wait(4, Some(Duration::ZERO)), None);
        assert_eq!(
            RetrySchedule::new([]).unwrap_err().to_string(),
            "a retry schedule needs at least one attempt; write \
             `RetrySchedule::new([Duration::ZERO])` for a single try"
        );
    }
}
