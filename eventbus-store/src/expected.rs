//! [`ExpectedVersion`]: what an append expects of its stream.

use std::fmt;

/// What [`Store::append`](crate::Store::append) expects the stream's
/// version to be: the number of events in it, 0 for a stream that has
/// none. The append fails with
/// [`StoreError::WrongExpectedVersion`](crate::StoreError::WrongExpectedVersion)
/// otherwise, and writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// Whatever the stream holds.
    Any,
    /// The stream has no event yet.
    NoStream,
    /// The stream holds exactly this many events: the version of the
    /// state the caller decided on.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` meets it.
    #[must_use]
    pub fn allows(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(version) => actual == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream (version 0)"),
            Self::Exact(version) => write!(f, "version {version}"),
        }
    }
}
