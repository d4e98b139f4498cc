//! [`StoredEvent`]: a record read back from the log, with where it stands.

use std::time::SystemTime;

use eventbus_core::{Event, EventRecord};
use serde::de::DeserializeOwned;

use crate::error::StoreError;

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEvent {
    /// Its position in the whole log: increasing in commit order, with
    /// gaps where an append rolled back.
    pub position: u64,
    /// Its stream.
    pub stream: String,
    /// Its version in the stream: 1 for the stream's first event.
    pub stream_version: u64,
    /// The record as appended; its envelope's `sequence` is the position.
    pub record: EventRecord,
    /// When it was recorded: its envelope's timestamp, to the microsecond.
    pub recorded_at: SystemTime,
    /// Whether the bus ran its handlers when it accepted the event
    /// (`false` for [`Store::append`](crate::Store::append)).
    pub handled: bool,
}

impl StoredEvent {
    /// The event, upcast from the version it was stored in to `E`'s.
    ///
    /// # Errors
    ///
    /// [`StoreError::Decode`], naming the position and the stream, when
    /// the record is of another event, an upcaster is missing or fails, or
    /// the JSON no longer fits `E`.
    pub fn decode<E: Event + DeserializeOwned>(&self) -> Result<E, StoreError> {
        self.record
            .decode::<E>()
            .map_err(|source| StoreError::Decode {
                position: self.position,
                stream: self.stream.clone(),
                source,
            })
    }
}
