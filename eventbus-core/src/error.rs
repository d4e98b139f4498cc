//! Errors of building a bus and of publishing on it.

use std::fmt;

use crate::handler::{BoxError, SourceLocation};
use crate::report::{HandlerFailure, Report};

/// Why [`BusBuilder::build`](crate::BusBuilder::build) refused to build a
/// bus.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two event types are registered under one name, so a name could not
    /// be turned back into one type.
    #[error(
        "two event types are named `{name}`: `{first}` and `{second}`; \
         give one of them another name with `#[event(name = \"...\")]`"
    )]
    DuplicateEventName {
        /// The name both types claim.
        name: &'static str,
        /// The Rust path of one type.
        first: &'static str,
        /// The Rust path of the other.
        second: &'static str,
    },
    /// `require::<E>()` was asked for, but no handler of `E` is part of
    /// this bus.
    #[error(
        "no handler of `{event_name}` (`{type_path}`) is registered; if its handlers live in \
         another crate, make sure that crate is linked by naming it once, e.g. \
         `use my_handlers as _;`, and check the bus's `filter_handlers`"
    )]
    MissingHandlers {
        /// The event's name.
        event_name: &'static str,
        /// The event's Rust path.
        type_path: &'static str,
    },
    /// A handler takes `State<T>`, but no `T` was given to the builder.
    #[error(
        "the handler `{handler}` takes `State<{type_name}>`, but no `{type_name}` was given to \
         this bus; add `.state(value)` to `Bus::builder()`{}",
        Given(.given)
    )]
    MissingState {
        /// The handler's full path.
        handler: &'static str,
        /// The state's type.
        type_name: &'static str,
        /// The types of the states that were given.
        given: Vec<&'static str>,
    },
    /// An event's upcasters skip a version, so records below the gap could
    /// not be brought up to date.
    #[error(
        "event `{event}` is at version {version} and has an upcaster from version {from}, but \
         none from version {missing}: add `#[upcast(event = {type_path}, from = {missing})]`"
    )]
    MissingUpcaster {
        /// The event's name.
        event: &'static str,
        /// The event's Rust path.
        type_path: &'static str,
        /// The event's current version.
        version: u32,
        /// The version the upcaster before the gap reads.
        from: u32,
        /// The version no upcaster reads.
        missing: u32,
    },
    /// Two upcasters read the same version of one event.
    #[error(
        "event `{event}` has two upcasters from version {from}: `{first}` ({first_location}) \
         and `{second}` ({second_location}); remove one of them"
    )]
    DuplicateUpcaster {
        /// The event's name.
        event: &'static str,
        /// The version both read.
        from: u32,
        /// The path of one upcaster.
        first: &'static str,
        /// Where it is written.
        first_location: SourceLocation,
        /// The path of the other.
        second: &'static str,
        /// Where it is written.
        second_location: SourceLocation,
    },
    /// An upcaster is written for an `#[event(local)]` type, which is
    /// never read from a record.
    #[error(
        "the upcaster `{upcaster}` ({location}) is for `{type_path}`, which is \
         `#[event(local)]`: a local event is never read from a record, so nothing would call \
         it; remove the upcaster, or remove `#[event(local)]`"
    )]
    UpcasterOfLocalEvent {
        /// The event's Rust path.
        type_path: &'static str,
        /// The upcaster's path.
        upcaster: &'static str,
        /// Where it is written.
        location: SourceLocation,
    },
    /// A setting was given a value the bus cannot work with.
    #[error("`BusBuilder::{setting}`: {message}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong with the value, and what to give instead.
        message: &'static str,
    },
}

struct Given<'a>(&'a [&'static str]);

impl fmt::Display for Given<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" (no state was given)");
        }
        f.write_str(" (given: ")?;
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        f.write_str(")")
    }
}

/// Why [`Bus::emit`](crate::Bus::emit) or
/// [`Bus::try_emit`](crate::Bus::try_emit) did not queue an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmitErrorKind {
    /// The queue is full (only `try_emit`; `emit` waits).
    Full,
    /// The bus is shut down.
    ShutDown,
    /// No tokio runtime runs the caller and none was given to the bus, so
    /// no worker can deliver the queue.
    NoRuntime,
    /// The bus's journal did not commit the event; nothing was delivered.
    NotCommitted,
}

/// An event that was not queued, handed back with the reason.
///
/// ```
/// # use eventbus::{EmitError, EmitErrorKind};
/// fn retry_later<E>(error: EmitError<E>) -> E {
///     assert_eq!(error.kind(), EmitErrorKind::Full);
///     error.into_inner()
/// }
/// ```
pub struct EmitError<E> {
    kind: EmitErrorKind,
    event: E,
    /// Why the journal did not store it, when it said.
    reason: Option<String>,
}

impl<E> EmitError<E> {
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn new(kind: EmitErrorKind, event: E) -> Self {
        Self {
            kind,
            event,
            reason: None,
        }
    }

    /// [`EmitErrorKind::NotCommitted`], with the journal's reason.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn not_committed(event: E, reason: String) -> Self {
        Self {
            kind: EmitErrorKind::NotCommitted,
            event,
            reason: Some(reason),
        }
    }

    /// Why the event was not queued.
    #[must_use]
    pub fn kind(&self) -> EmitErrorKind {
        self.kind
    }

    /// The event, back to the caller.
    pub fn into_inner(self) -> E {
        self.event
    }
}

impl<E> fmt::Display for EmitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = std::any::type_name::<E>();
        match self.kind {
            EmitErrorKind::Full => write!(
                f,
                "the bus's queue is full; `{name}` was handed back: retry later, \
                 `emit(..).await` to wait for room, or raise `queue_capacity`"
            ),
            EmitErrorKind::ShutDown => {
                write!(f, "the bus is shut down; `{name}` was handed back")
            }
            EmitErrorKind::NoRuntime => write!(
                f,
                "no tokio runtime runs this thread and none was given with \
                 `BusBuilder::runtime`; `{name}` was handed back"
            ),
            EmitErrorKind::NotCommitted => {
                f.write_str("the bus's journal did not store the event")?;
                match &self.reason {
                    Some(reason) => write!(f, " ({reason})")?,
                    None => f.write_str(" (see the logs for why)")?,
                }
                write!(
                    f,
                    "; `{name}` was handed back and nothing was delivered: emit it again"
                )
            }
        }
    }
}

impl<E> fmt::Debug for EmitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EmitError");
        debug
            .field("kind", &self.kind)
            .field("event", &std::any::type_name::<E>());
        if let Some(reason) = &self.reason {
            debug.field("reason", reason);
        }
        debug.finish()
    }
}

impl<E> std::error::Error for EmitError<E> {}

/// Why an event could not be published.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No event type is registered under the name given.
    #[error("no event type is registered under the name `{name}`{}", Suggestions(.suggestions))]
    UnknownEvent {
        /// The name asked for.
        name: String,
        /// Registered names close to it, closest first.
        suggestions: Vec<&'static str>,
    },
    /// The JSON did not decode into the event type.
    #[error("the JSON for event `{name}` does not decode into `{type_path}`: {source}")]
    InvalidJson {
        /// The event's name.
        name: &'static str,
        /// The Rust type it should decode into.
        type_path: &'static str,
        /// What `serde_json` reported.
        #[source]
        source: serde_json::Error,
    },
    /// The name belongs to an `#[event(local)]` type, which is never
    /// decoded from outside the process.
    #[error(
        "the event `{name}` (`{type_path}`) is local: it is never decoded from JSON; \
         remove `#[event(local)]` and derive `Serialize` and `Deserialize` to accept it by name"
    )]
    LocalEvent {
        /// The event's name.
        name: &'static str,
        /// Its Rust path.
        type_path: &'static str,
    },
    /// No handler of the bus is in the group asked for.
    #[error("no handler of this bus is in the group `{group}`{}", Groups(.groups))]
    UnknownGroup {
        /// The group asked for.
        group: String,
        /// The groups the bus has handlers in, sorted.
        groups: Vec<&'static str>,
    },
    /// The bus has no handler of the name asked for.
    #[error("this bus has no handler `{handler}` (name a handler by its full path, as `HandlerInfo::handler_name` gives it){}", Suggestions(.suggestions))]
    UnknownHandler {
        /// The name asked for.
        handler: String,
        /// Handler names close to it, closest first.
        suggestions: Vec<&'static str>,
    },
    /// A record of one event was decoded as another.
    #[error("the record is of event `{found}`, not of `{expected}`: decode it as the type registered under `{found}`, or deliver it to a bus, which finds the type by name")]
    WrongEvent {
        /// The name of the type asked for.
        expected: &'static str,
        /// The record's name.
        found: String,
    },
    /// The record is of a version this program cannot bring up to its
    /// own: newer than it knows, or older with no upcaster, or an
    /// upcaster failed.
    #[error(transparent)]
    Upcast(#[from] UpcastError),
    /// One or more handlers failed; every failure is kept.
    #[error("{} of the handlers of `{event_name}` failed: {}", .failures.len(), Failures(.failures))]
    HandlersFailed {
        /// The event's name.
        event_name: &'static str,
        /// Each failed call, in the order they ran.
        failures: Vec<HandlerFailure>,
    },
}

/// Why an event could not be turned into an [`EventRecord`](crate::EventRecord).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The event is an `#[event(local)]` type, which never leaves the
    /// process.
    #[error(
        "the event `{name}` (`{type_path}`) is local: it never becomes a record; \
         remove `#[event(local)]` and derive `Serialize` and `Deserialize` to send or store it"
    )]
    LocalEvent {
        /// The event's name.
        name: &'static str,
        /// Its Rust path.
        type_path: &'static str,
    },
    /// `serde_json` could not write the event.
    #[error("the event `{name}` could not be written as JSON: {source}")]
    Encode {
        /// The event's name.
        name: &'static str,
        /// What `serde_json` reported.
        #[source]
        source: serde_json::Error,
    },
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Display` already says everything; `unwrap()` users read this.
        write!(f, "{self}")
    }
}

impl fmt::Debug for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Display` already says everything; `unwrap()` users read this.
        write!(f, "{self}")
    }
}

struct Suggestions<'a>(&'a [&'static str]);

impl fmt::Display for Suggestions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((first, rest)) = self.0.split_first() else {
            return Ok(());
        };
        write!(f, "; did you mean `{first}`")?;
        for name in rest {
            write!(f, " or `{name}`")?;
        }
        f.write_str("?")
    }
}

struct Groups<'a>(&'a [&'static str]);

impl fmt::Display for Groups<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(
                "; it has no grouped handlers: add the group to `BusBuilder::groups` or \
                 `BusBuilder::remote_groups`",
            );
        }
        f.write_str("; its groups are ")?;
        for (i, group) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{group}`")?;
        }
        Ok(())
    }
}

struct Failures<'a>(&'a [HandlerFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

impl Report {
    /// `Ok(())` when no handler failed, otherwise a [`PublishError`] that
    /// holds every failure.
    ///
    /// # Errors
    ///
    /// [`PublishError::HandlersFailed`] when at least one handler failed.
    pub fn into_result(self) -> Result<(), PublishError> {
        let event_name = self.event_name();
        let failures = self.into_failures();
        if failures.is_empty() {
            return Ok(());
        }
        Err(PublishError::HandlersFailed {
            event_name,
            failures,
        })
    }
}

/// Why a record could not be brought up to the current version of its
/// event.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum UpcastError {
    /// The record was written by a program that knows a later version of
    /// the event than this one does.
    #[error(
        "the record of event `{event}` is at version {version}, but this program knows it only \
         up to version {known}; read it with a build that knows version {version}"
    )]
    NewerVersion {
        /// The event's name.
        event: &'static str,
        /// The record's version.
        version: u32,
        /// The event's version in this program.
        known: u32,
    },
    /// No upcaster reads the version the chain is at.
    #[error(
        "no upcaster turns event `{event}` from version {from} into version {}: add a function \
         with `#[upcast(event = .., from = {from})]`",
        u64::from(*.from) + 1
    )]
    MissingStep {
        /// The event's name.
        event: &'static str,
        /// The version no upcaster reads.
        from: u32,
    },
    /// The record's payload is not JSON.
    #[error("the record of event `{event}` at version {version} is not valid JSON: {source}")]
    InvalidJson {
        /// The event's name.
        event: &'static str,
        /// The record's version.
        version: u32,
        /// What `serde_json` reported.
        #[source]
        source: serde_json::Error,
    },
    /// An upcaster returned an error.
    #[error(
        "the upcaster `{upcaster}` failed to turn event `{event}` from version {from} into \
         version {}: {source}",
        u64::from(*.from) + 1
    )]
    Failed {
        /// The event's name.
        event: &'static str,
        /// The version the upcaster reads.
        from: u32,
        /// The upcaster's path.
        upcaster: &'static str,
        /// The upcaster's error.
        #[source]
        source: BoxError,
    },
}

impl std::fmt::Debug for UpcastError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `Display` already says everything; `unwrap()` users read this.
        write!(f, "{self}")
    }
}
