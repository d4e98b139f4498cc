//! Dead letters: events whose handler still failed after its retries, kept
//! with the failure so they can be inspected or replayed.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::envelope::Uuid;
use crate::handler::HandlerInfo;
use crate::record::EventRecord;
use crate::report::{FailureKind, HandlerFailure};

/// One event that a handler failed on, or that a sink could not send,
/// with the failure.
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
    /// How many times the handler was called, or the sink tried.
    pub attempts: u32,
    /// The record a sink did not send, with its envelope, to send again;
    /// `None` for a handler's failure.
    pub record: Option<EventRecord>,
    /// The name of the sink that did not send [`record`](Self::record).
    pub sink: Option<String>,
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
            record: failure.record().cloned(),
            sink: failure.sink().map(str::to_owned),
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

/// Dead letters kept in memory, the newest `capacity` of them (10,000 by
/// default); clones share one list. When full, the oldest letter is
/// dropped to make room and counted in [`dropped`](Self::dropped).
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
#[derive(Clone)]
pub struct MemoryDeadLetters {
    shared: Arc<Mutex<Kept>>,
}

struct Kept {
    letters: VecDeque<DeadLetter>,
    capacity: usize,
    dropped: u64,
}

/// How many letters [`MemoryDeadLetters::new`] keeps.
pub const DEFAULT_DEAD_LETTER_CAPACITY: usize = 10_000;

impl MemoryDeadLetters {
    /// An empty list that keeps the newest 10,000 letters.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_DEAD_LETTER_CAPACITY)
    }

    /// An empty list that keeps the newest `capacity` letters (at least 1).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Kept {
                letters: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
            })),
        }
    }

    /// The letters kept, oldest first.
    #[must_use]
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.lock().letters.iter().cloned().collect()
    }

    /// How many letters are kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().letters.len()
    }

    /// Whether none are kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().letters.is_empty()
    }

    /// How many letters were dropped, oldest first, to keep within the
    /// capacity.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Takes every kept letter out of the list.
    #[must_use]
    pub fn take(&self) -> Vec<DeadLetter> {
        self.lock().letters.drain(..).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryDeadLetters {
    fn default() -> Self {
        Self::new()
    }
}

impl DeadLetters for MemoryDeadLetters {
    fn push(&self, letter: DeadLetter) {
        let mut kept = self.lock();
        if kept.letters.len() >= kept.capacity {
            kept.letters.pop_front();
            kept.dropped += 1;
        }
        kept.letters.push_back(letter);
    }
}

impl fmt::Debug for MemoryDeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDeadLetters")
            .field("len", &self.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}
