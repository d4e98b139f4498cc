//! The errors a handler call can end with besides the handler's own:
//! what layers see, and what the report turns into a [`FailureKind`](crate::FailureKind).

use std::fmt;

/// The error a layer sees when the handler panicked; the bus reports it as
/// a [`FailureKind::Panic`](crate::FailureKind::Panic).
#[derive(Debug)]
pub struct Panicked {
    message: String,
}

impl Panicked {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// The panic message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Panicked {}

/// The error of a call stopped by its time limit; the bus reports it as a
/// [`FailureKind::Timeout`](crate::FailureKind::Timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    limit: std::time::Duration,
}

impl TimedOut {
    /// A call stopped after `limit`.
    #[must_use]
    pub fn new(limit: std::time::Duration) -> Self {
        Self { limit }
    }

    /// The limit the call ran into.
    #[must_use]
    pub fn limit(&self) -> std::time::Duration {
        self.limit
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "did not finish within its time limit of {} ms and was cancelled",
            self.limit.as_millis()
        )
    }
}

impl std::error::Error for TimedOut {}

/// The error of a call that needed a tokio runtime (for its time limit)
/// where none runs; the bus reports it as a
/// [`FailureKind::NoRuntime`](crate::FailureKind::NoRuntime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime {
    needed_for: &'static str,
}

impl NoRuntime {
    /// A call that needed a runtime for `needed_for` (e.g. "its time
    /// limit").
    #[must_use]
    pub fn new(needed_for: &'static str) -> Self {
        Self { needed_for }
    }
}

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "was not run: it needs a tokio runtime for {} and none is running here; await \
             `publish_async` inside a tokio runtime",
            self.needed_for
        )
    }
}

impl std::error::Error for NoRuntime {}
