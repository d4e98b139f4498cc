//! Where final failures go besides the caller's report: the `on_error`
//! hook, the dead letters, and the metrics layer's counts.

use std::sync::Arc;

use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::layer::MetricsLayer;
use crate::report::HandlerFailure;

/// What `BusBuilder::on_error` is given.
pub(crate) type ErrorHook = Box<dyn Fn(&HandlerFailure) + Send + Sync>;

/// Where final failures go besides the caller's report.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) on_error: Option<ErrorHook>,
    pub(crate) dead_letters: Option<Arc<dyn DeadLetters>>,
    pub(crate) metrics: Option<MetricsLayer>,
}

impl Hooks {
    /// Hands final failures to `on_error` and the dead letters. A hook
    /// that panics is reported through `tracing` and does not stop the
    /// others when `catch`.
    pub(crate) fn report(&self, failures: &[HandlerFailure], catch: bool) {
        for failure in failures {
            if let Some(on_error) = &self.on_error {
                run_hook(catch, "on_error hook", failure, || on_error(failure));
            }
            if let Some(dead_letters) = &self.dead_letters {
                run_hook(catch, "dead-letter store", failure, || {
                    dead_letters.push(DeadLetter::from_failure(failure));
                });
            }
        }
    }
}

/// Runs an `on_error` hook or a dead-letter store; when `catch`, its panic
/// is logged through `tracing` instead of escaping.
fn run_hook(catch: bool, what: &str, failure: &HandlerFailure, hook: impl FnOnce()) {
    if !catch {
        hook();
        return;
    }
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)) {
        tracing::error!(
            target: "eventbus",
            event = failure.event_name(),
            event_id = %failure.event_id(),
            "the {what} panicked while taking a failure ({failure}): {}",
            crate::report::take_panic(payload)
        );
    }
}
