//! Dead letters: events whose handler still failed after its retries, kept
//! with the failure so they can be inspected or replayed.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::envelope::Uuid;
use crate::handler::HandlerInfo;
use crate::report::{FailureKind, HandlerFailure};

/// One event that a handler failed on, with the failure.
///
/// Not to be confused with [`DeadEvent`](crate::DeadEvent), an event that no
/// handler took.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event's name.
    pub event_name: &'static str,
    /// The event's id.
    pub event_id: Uuid,
    /// The event as JSON; `None` for an `#[event(local)]` event, which is
    /// never encoded.
    pub payload: Option<serde_json::Value>,
    /// The handler that failed; `None` when the failure belongs to no
    /// handler (a stopped cascade, a shut-down bus, no runtime).
    pub handler: Option<HandlerInfo>,
    /// Why it failed.
    pub kind: FailureKind,
    /// The error text or panic message.
    pub message: String,
    /// How many times the handler was called.
    pub attempts: u32,
}

impl DeadLetter {
    pub(crate) fn from_failure(failure: &HandlerFailure) -> Self {
        Self {
            event_name: failure.event_name(),
            event_id: failure.event_id(),
            payload: failure.payload().cloned(),
            handler: failure.handler().cloned(),
            kind: failure.kind(),
            message: failure.message().to_owned(),
            attempts: failure.attempts(),
        }
    }
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.handler {
            Some(handler) => write!(
                f,
                "{} {} failed in {} after {} attempt(s): {}",
                self.event_name,
                self.event_id,
                handler.handler_name(),
                self.attempts,
                self.message
            ),
            None => write!(f, "{} {}: {}", self.event_name, self.event_id, self.message),
        }
    }
}

/// Where a bus puts its dead letters: given with
/// [`BusBuilder::dead_letters`](crate::BusBuilder::dead_letters).
///
/// `push` is called on the thread (or task) where the failure became
/// final; an implementation that does I/O should hand the letter off
/// rather than block.
pub trait DeadLetters: Send + Sync + 'static {
    /// Takes one dead letter.
    fn push(&self, letter: DeadLetter);
}

/// Dead letters kept in memory; clones share one list.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::MemoryDeadLetters;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Charge {
///     cents: u32,
/// }
///
/// #[subscribe]
/// fn charge(_: &Charge) -> Result<(), String> {
///     Err("card declined".into())
/// }
///
/// let letters = MemoryDeadLetters::new();
/// let bus = Bus::builder().dead_letters(letters.clone()).build().unwrap();
/// let _ = bus.publish(Charge { cents: 250 });
/// let letter = &letters.letters()[0];
/// assert_eq!(letter.message, "card declined");
/// assert_eq!(letter.payload, Some(serde_json::json!({ "cents": 250 })));
/// ```
#[derive(Clone, Default)]
pub struct MemoryDeadLetters {
    letters: Arc<Mutex<Vec<DeadLetter>>>,
}

impl MemoryDeadLetters {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The letters so far, oldest first.
    #[must_use]
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.lock().clone()
    }

    /// How many letters there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Takes every letter out of the list.
    #[must_use]
    pub fn take(&self) -> Vec<DeadLetter> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<DeadLetter>> {
        self.letters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DeadLetters for MemoryDeadLetters {
    fn push(&self, letter: DeadLetter) {
        self.lock().push(letter);
    }
}

impl fmt::Debug for MemoryDeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDeadLetters")
            .field("len", &self.len())
            .finish()
    }
}
