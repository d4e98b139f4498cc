//! The outcome of one publish: how many handlers ran and which failed.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::call_error::{NoRuntime, Panicked, TimedOut};
use crate::envelope::{LazyId, Uuid};
use crate::handler::{BoxError, HandlerInfo};
use crate::meta::EventMeta;
use crate::record::EventRecord;

/// Why a handler call, or a whole delivery, failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The handler returned `Err`.
    Error,
    /// The handler panicked.
    Panic,
    /// An async, background or blocking handler could not be started:
    /// no tokio runtime was running and none was given to the bus.
    NoRuntime,
    /// The bus was shut down; nothing was delivered.
    ShutDown,
    /// A chain of follow-up events went deeper than `max_cascade_depth`
    /// or longer than `max_cascade_events`, and was stopped.
    CascadeLimit,
    /// The handler did not finish within its time limit and was cancelled
    /// (a blocking one is abandoned; its thread runs on).
    Timeout,
    /// The event was accepted (queued by `emit`, or its handler spawned)
    /// but can no longer be delivered: the runtime that was to run it
    /// ended first.
    Abandoned,
    /// A sink's buffer was full: the event's record was not handed to
    /// that sink, and went to the dead letters instead.
    SinkFull,
    /// A sink could not send the event's record, after its retries; the
    /// record went to the dead letters.
    SinkFailed,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "returned an error",
            Self::Panic => "panicked",
            Self::NoRuntime => "found no runtime",
            Self::ShutDown => "found the bus shut down",
            Self::CascadeLimit => "hit the cascade limit",
            Self::Timeout => "timed out",
            Self::Abandoned => "was abandoned",
            Self::SinkFull => "found a sink's buffer full",
            Self::SinkFailed => "could not be sent by a sink",
        })
    }
}

/// One failed handler call: which handler, for which event, and why.
///
/// `Display` reads like `handler shop::send_mail failed on OrderPlaced:
/// mail server down`.
pub struct HandlerFailure {
    handler: Option<HandlerInfo>,
    kind: FailureKind,
    event_name: &'static str,
    event_id: Uuid,
    message: String,
    error: Option<BoxError>,
    attempts: u32,
    /// The event as JSON, kept for the dead letters.
    payload: Option<serde_json::Value>,
    /// The record that was not sent or stored, for the dead letters.
    record: Option<Arc<EventRecord>>,
    /// For a sink's failure, the sink's name.
    sink: Option<Arc<str>>,
}

/// The event a failure belongs to.
#[derive(Clone, Copy)]
pub(crate) struct EventRef<'a> {
    pub(crate) name: &'static str,
    pub(crate) id: &'a LazyId,
}

impl HandlerFailure {
    pub(crate) fn from_error(handler: &HandlerInfo, event: EventRef<'_>, error: BoxError) -> Self {
        Self {
            handler: Some(handler.clone()),
            kind: FailureKind::Error,
            event_name: event.name,
            event_id: event.id.get(),
            message: error.to_string(),
            error: Some(error),
            attempts: 1,
            payload: None,
            record: None,
            sink: None,
        }
    }

    /// The failure of a call through the layers: a [`Panicked`] error is a
    /// panic, a [`TimedOut`] one a timeout.
    pub(crate) fn from_call(
        handler: &HandlerInfo,
        event: EventRef<'_>,
        error: BoxError,
        attempts: u32,
    ) -> Self {
        let mut failure = if let Some(panicked) = error.downcast_ref::<Panicked>() {
            Self::from_panic(handler, event, panicked.message().to_owned())
        } else if error.is::<NoRuntime>() {
            // Not the handler's failure: it was never run.
            let message = format!(
                "the {} handler {} {error}",
                handler.kind(),
                handler.handler_name()
            );
            Self::delivery(FailureKind::NoRuntime, event, message)
        } else {
            let kind = if error.is::<TimedOut>() {
                FailureKind::Timeout
            } else {
                FailureKind::Error
            };
            let mut failure = Self::from_error(handler, event, error);
            failure.kind = kind;
            failure
        };
        failure.attempts = attempts;
        failure
    }

    /// Keeps the event as JSON, for the dead letters.
    pub(crate) fn capture(&mut self, meta: &'static EventMeta, event: &dyn Any) {
        if self.payload.is_none() {
            self.payload = meta.to_json(event);
        }
    }

    pub(crate) fn payload(&self) -> Option<&serde_json::Value> {
        self.payload.as_ref()
    }

    pub(crate) fn from_panic(handler: &HandlerInfo, event: EventRef<'_>, message: String) -> Self {
        Self {
            handler: Some(handler.clone()),
            kind: FailureKind::Panic,
            event_name: event.name,
            event_id: event.id.get(),
            message,
            error: None,
            attempts: 1,
            payload: None,
            record: None,
            sink: None,
        }
    }

    /// A failure of the delivery as a whole, or of a handler the bus could
    /// not start; `message` says which.
    pub(crate) fn delivery(kind: FailureKind, event: EventRef<'_>, message: String) -> Self {
        Self {
            handler: None,
            kind,
            event_name: event.name,
            event_id: event.id.get(),
            message,
            error: None,
            attempts: 0,
            payload: None,
            record: None,
            sink: None,
        }
    }

    /// A sink's failure to send `record`: `kind` is
    /// [`FailureKind::SinkFull`] or [`FailureKind::SinkFailed`].
    #[cfg(feature = "tokio")]
    pub(crate) fn of_sink(
        kind: FailureKind,
        record: Arc<EventRecord>,
        sink: Arc<str>,
        meta_name: &'static str,
        error: Option<BoxError>,
        attempts: u32,
    ) -> Self {
        let message = match (&error, kind) {
            (Some(error), _) => format!("sink `{sink}` could not send the record: {error}"),
            (None, FailureKind::SinkFull) => format!(
                "the buffer of sink `{sink}` is full: the record was not handed to it; \
                 it is in the dead letters"
            ),
            (None, _) => format!("sink `{sink}` could not send the record"),
        };
        Self {
            handler: None,
            kind,
            event_name: meta_name,
            event_id: record.envelope.id,
            message,
            error,
            attempts,
            payload: None,
            record: Some(record),
            sink: Some(sink),
        }
    }

    /// The record a sink did not send, or the journal did not store;
    /// `None` for a handler's failure.
    #[must_use]
    pub fn record(&self) -> Option<&EventRecord> {
        self.record.as_deref()
    }

    /// The name of the sink that did not send [`record`](Self::record).
    #[must_use]
    pub fn sink(&self) -> Option<&str> {
        self.sink.as_deref()
    }

    /// A record from the journal that could not be delivered: `message`
    /// says why.
    #[cfg(feature = "tokio")]
    pub(crate) fn undeliverable(
        record: Arc<EventRecord>,
        event: &'static str,
        message: String,
    ) -> Self {
        Self {
            handler: None,
            kind: FailureKind::Abandoned,
            event_name: event,
            event_id: record.envelope.id,
            message,
            error: None,
            attempts: 0,
            payload: None,
            record: Some(record),
            sink: None,
        }
    }

    /// A journal's failure to store `record`: the event's handlers may
    /// have run, but it is not in the log.
    #[cfg(feature = "tokio")]
    pub(crate) fn not_stored(record: Arc<EventRecord>, event: &'static str, error: &str) -> Self {
        Self {
            handler: None,
            kind: FailureKind::Abandoned,
            event_name: event,
            event_id: record.envelope.id,
            message: format!("the journal did not store the event: {error}"),
            error: None,
            attempts: 0,
            payload: None,
            record: Some(record),
            sink: None,
        }
    }

    /// The handler that failed; `None` for failures that belong to no
    /// handler.
    #[must_use]
    pub fn handler(&self) -> Option<&HandlerInfo> {
        self.handler.as_ref()
    }

    /// Whether the handler returned an error or panicked.
    #[must_use]
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The name of the event being delivered (for a failure in a
    /// follow-up event, the follow-up's name).
    #[must_use]
    pub fn event_name(&self) -> &'static str {
        self.event_name
    }

    /// The id of the event being delivered.
    #[must_use]
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }

    /// The error's text, or the panic message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How many times the handler was called before giving up (0 when it
    /// was never started).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The error the handler returned, for downcasting; `None` for a panic.
    ///
    /// ```
    /// # use eventbus::HandlerFailure;
    /// # #[derive(Debug)] struct MailDown;
    /// # impl std::fmt::Display for MailDown { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("mail down") } }
    /// # impl std::error::Error for MailDown {}
    /// fn is_mail_down(failure: &HandlerFailure) -> bool {
    ///     failure.error().is_some_and(|e| e.is::<MailDown>())
    /// }
    /// ```
    #[must_use]
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.error.as_deref()
    }
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.handler {
            Some(handler) => write!(
                f,
                "handler {} {} on {}: {}",
                handler.handler_name(),
                self.kind,
                self.event_name,
                self.message
            ),
            None => write!(
                f,
                "delivery of {} failed: {}",
                self.event_name, self.message
            ),
        }
    }
}

// The error's text is in `message`; its own `Debug` adds nothing a reader
// of a failed report needs.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFailure")
            .field(
                "handler",
                &self.handler.as_ref().map(HandlerInfo::handler_name),
            )
            .field("kind", &self.kind)
            .field("event_name", &self.event_name)
            .field("message", &self.message)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// The text of a panic, taking the payload. A payload whose own `drop`
/// panics is dropped inside `catch_unwind`, so it cannot escape the bus.
pub(crate) fn take_panic(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(&*payload);
    if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
        // Dropping this one could panic as well; leaking it is the safe end.
        std::mem::forget(again);
    }
    message
}

/// The text of a panic payload: the message of `panic!("...")`, or a note
/// that the payload was not text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "the handler panicked with a payload that is not a string".to_owned()
    }
}

/// What happened when one event was published.
///
/// A publish never fails as a whole: each handler runs, and those that
/// returned `Err` or panicked are listed in [`failures`](Self::failures).
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct NobodyListens;
///
/// let report = Bus::new().publish(NobodyListens);
/// assert!(report.is_ok());
/// assert!(report.is_dead());
/// assert_eq!(report.handled(), 0);
/// ```
#[must_use = "a Report lists the handlers that failed; check it, or call `into_result()`"]
pub struct Report {
    event_name: &'static str,
    event_id: LazyId,
    handled: u32,
    scheduled: u32,
    /// `None` while nothing failed: a successful report holds no heap
    /// memory and is a few words to return.
    failures: Option<FailureList>,
}

/// Boxed: a report with no failure then carries one null word instead of a
/// `Vec`'s three, and a report with failures pays one more allocation.
#[allow(clippy::box_collection)]
type FailureList = Box<Vec<HandlerFailure>>;

impl Drop for Report {
    #[inline]
    fn drop(&mut self) {
        // Out of line, so dropping a report with no failure is one test in
        // the caller's code.
        if let Some(failures) = self.failures.take() {
            drop_failures(failures);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_failures(failures: FailureList) {
    drop(failures);
}

fn boxed(failures: Vec<HandlerFailure>) -> Option<FailureList> {
    if failures.is_empty() {
        None
    } else {
        Some(Box::new(failures))
    }
}

/// A count as a report keeps it; no event has four billion handlers.
fn count(calls: usize) -> u32 {
    u32::try_from(calls).unwrap_or(u32::MAX)
}

impl Report {
    /// A report of an event the bus refused, before any handler ran.
    pub(crate) fn new(event_name: &'static str) -> Self {
        Self::assemble(event_name, LazyId::default(), 0, Vec::new())
    }

    /// A report of a delivery that ran every handler inline.
    #[inline]
    pub(crate) fn assemble(
        event_name: &'static str,
        event_id: LazyId,
        handled: usize,
        failures: Vec<HandlerFailure>,
    ) -> Self {
        Self::delivered(event_name, event_id, handled, 0, failures)
    }

    /// A report of a delivery: `handled` handlers ran, `scheduled` were
    /// spawned, and `failures` failed.
    #[inline]
    pub(crate) fn delivered(
        event_name: &'static str,
        event_id: LazyId,
        handled: usize,
        scheduled: usize,
        failures: Vec<HandlerFailure>,
    ) -> Self {
        Self {
            event_name,
            event_id,
            handled: count(handled),
            scheduled: count(scheduled),
            failures: boxed(failures),
        }
    }

    /// A report of a delivery where `handled` handlers ran inline and none
    /// failed: what `publish` returns on its fast path.
    #[inline]
    pub(crate) fn succeeded(event_name: &'static str, handled: usize) -> Self {
        Self {
            event_name,
            event_id: LazyId::default(),
            handled: count(handled),
            scheduled: 0,
            failures: None,
        }
    }

    /// A report of an event the bus refused to deliver.
    pub(crate) fn refused(event_name: &'static str, kind: FailureKind, message: String) -> Self {
        let mut report = Self::new(event_name);
        let failure = HandlerFailure::delivery(kind, report.event(), message);
        report.failures_mut().push(failure);
        report
    }

    pub(crate) fn event(&self) -> EventRef<'_> {
        EventRef {
            name: self.event_name,
            id: &self.event_id,
        }
    }

    /// The failures, taken out of the report.
    pub(crate) fn into_failures(mut self) -> Vec<HandlerFailure> {
        self.failures
            .take()
            .map_or_else(Vec::new, |failures| *failures)
    }

    pub(crate) fn failures_mut(&mut self) -> &mut Vec<HandlerFailure> {
        self.failures.get_or_insert_with(Box::default)
    }

    /// The name of the event this report is about.
    #[must_use]
    pub fn event_name(&self) -> &'static str {
        self.event_name
    }

    /// The event's id: its envelope's id when the bus built one, otherwise
    /// made on first call (and the same on every later call).
    #[must_use]
    pub fn event_id(&self) -> Uuid {
        self.event_id.get()
    }

    /// How many of the event's own handlers ran, failed ones included;
    /// follow-up events, catch-all (`&AnyEvent`) and `&DeadEvent` handlers
    /// are not counted.
    #[must_use]
    pub fn handled(&self) -> usize {
        self.handled as usize
    }

    /// How many handler calls were spawned and not awaited: async handlers
    /// started by `publish`, and `background` handlers.
    #[must_use]
    pub fn scheduled(&self) -> usize {
        self.scheduled as usize
    }

    /// The handler calls that failed, in the order they ran, followed by
    /// those of follow-up events.
    #[must_use]
    pub fn failures(&self) -> &[HandlerFailure] {
        self.failures.as_deref().map_or(&[], Vec::as_slice)
    }

    /// True when no handler failed (also true for a dead event).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.failures().is_empty()
    }

    /// True when no handler of the event ran or was scheduled: nobody
    /// listens to it.
    #[must_use]
    pub fn is_dead(&self) -> bool {
        self.handled == 0 && self.scheduled == 0
    }
}

/// Where the failures of one delivery go, with the event they belong to.
pub(crate) struct FailureSink<'a> {
    pub(crate) event: EventRef<'a>,
    pub(crate) failures: &'a mut Vec<HandlerFailure>,
    /// The event, when failures keep it as JSON for the dead letters.
    pub(crate) capture: Option<(&'static EventMeta, &'a dyn Any)>,
}

impl FailureSink<'_> {
    pub(crate) fn event(&self) -> EventRef<'_> {
        self.event
    }

    pub(crate) fn push(&mut self, mut failure: HandlerFailure) {
        if let Some((meta, event)) = self.capture {
            failure.capture(meta, event);
        }
        self.failures.push(failure);
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("event_name", &self.event_name)
            .field("handled", &self.handled)
            .field("scheduled", &self.scheduled)
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}
