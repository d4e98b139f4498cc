//! Errors of building a bus and of publishing on it.

use std::fmt;

use crate::report::HandlerFailure;

/// Why [`BusBuilder::build`](crate::BusBuilder::build) refused to build a
/// bus.
#[derive(Debug, thiserror::Error)]
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
         `use my_handlers as _;`, and check the bus's groups and `filter_handlers`"
    )]
    MissingHandlers {
        /// The event's name.
        event_name: &'static str,
        /// The event's Rust path.
        type_path: &'static str,
    },
}

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
    /// One or more handlers failed; every failure is kept.
    #[error("{} of the handlers of `{event_name}` failed: {}", .failures.len(), Failures(.failures))]
    HandlersFailed {
        /// The event's name.
        event_name: &'static str,
        /// Each failed call, in the order they ran.
        failures: Vec<HandlerFailure>,
    },
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
