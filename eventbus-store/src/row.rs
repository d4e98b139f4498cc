//! Rows of `eventbus_events` as both backends bind and read them: text
//! for ids, JSON and times, so one encoding serves SQLite (which stores
//! them as text) and PostgreSQL (which casts them to `UUID`, `JSONB` and
//! `TIMESTAMPTZ` in the query).

use std::borrow::Cow;
use std::time::SystemTime;

use eventbus_core::{Envelope, EventRecord, Origin};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::stored::StoredEvent;

/// The columns of `eventbus_events` a record fills, as text where the
/// backends differ: what a read gets back beside the position and the
/// stream version.
pub(crate) struct Columns {
    pub(crate) stream: String,
    pub(crate) event_id: String,
    pub(crate) name: String,
    pub(crate) version: i64,
    pub(crate) payload: String,
    pub(crate) correlation_id: String,
    pub(crate) causation_id: Option<String>,
    pub(crate) origin: String,
    pub(crate) source: Option<String>,
    pub(crate) handled: bool,
    pub(crate) recorded_at: String,
}

/// A record about to be appended: its columns, borrowed from the record
/// where the text is there already.
pub(crate) struct NewRow<'a> {
    pub(crate) stream: &'a str,
    pub(crate) event_id: String,
    pub(crate) name: &'a str,
    pub(crate) version: i64,
    pub(crate) payload: &'a str,
    pub(crate) correlation_id: String,
    pub(crate) causation_id: Option<String>,
    pub(crate) origin: &'static str,
    pub(crate) source: Option<&'a str>,
    pub(crate) handled: bool,
    pub(crate) recorded_at: String,
}

impl<'a> NewRow<'a> {
    pub(crate) fn new(
        stream: &'a str,
        record: &'a EventRecord,
        handled: bool,
    ) -> Result<Self, StoreError> {
        let envelope = &record.envelope;
        let unstorable = |message: String| StoreError::Unstorable {
            event_id: envelope.id,
            name: record.name.to_string(),
            message,
        };
        let payload = std::str::from_utf8(&record.payload)
            .map_err(|error| unstorable(format!("its payload is not UTF-8 JSON: {error}")))?;
        // The column holds JSON (JSONB on PostgreSQL): checked here, so
        // both backends refuse the same records with the same message.
        serde_json::from_str::<serde::de::IgnoredAny>(payload)
            .map_err(|error| unstorable(format!("its payload is not JSON: {error}")))?;
        Ok(Self {
            stream,
            event_id: text(envelope.id),
            name: &record.name,
            version: i64::from(record.version),
            payload,
            correlation_id: text(envelope.correlation_id),
            causation_id: envelope.causation_id.map(text),
            origin: envelope.origin.as_str(),
            source: envelope.source.as_deref(),
            handled,
            recorded_at: timestamp_text(envelope.timestamp).map_err(unstorable)?,
        })
    }
}

/// A row read back.
pub(crate) struct ReadRow {
    pub(crate) position: i64,
    pub(crate) stream_version: i64,
    pub(crate) columns: Columns,
}

impl ReadRow {
    /// The stored event, or what is wrong with the row.
    pub(crate) fn into_stored(self) -> Result<StoredEvent, StoreError> {
        let Self {
            position,
            stream_version,
            columns: row,
        } = self;
        let position = u64::try_from(position).unwrap_or_default();
        let corrupt = |message: String| StoreError::Corrupt {
            position,
            stream: row.stream.clone(),
            message,
        };
        let uuid = |column: &str, value: &str| {
            Uuid::parse_str(value)
                .map_err(|error| corrupt(format!("`{column}` {value:?} is not a UUID: {error}")))
        };
        let id = uuid("event_id", &row.event_id)?;
        let correlation_id = uuid("correlation_id", &row.correlation_id)?;
        let causation_id = match &row.causation_id {
            Some(causation) => Some(uuid("causation_id", causation)?),
            None => None,
        };
        let origin = match row.origin.as_str() {
            "local" => Origin::Local,
            "remote" => Origin::Remote,
            "replay" => Origin::Replay,
            other => {
                return Err(corrupt(format!(
                    "`origin` is {other:?}, not one of local, remote, replay"
                )))
            }
        };
        let version = u32::try_from(row.version).map_err(|_| {
            corrupt(format!(
                "`version` {} is not a schema version (1 to 4294967295)",
                row.version
            ))
        })?;
        let stream_version = u64::try_from(stream_version).map_err(|_| {
            corrupt(format!(
                "`stream_version` {stream_version} is not a version"
            ))
        })?;
        let recorded_at = OffsetDateTime::parse(&row.recorded_at, &Rfc3339)
            .map(SystemTime::from)
            .map_err(|error| {
                corrupt(format!(
                    "`recorded_at` {:?} is not an RFC 3339 time: {error}",
                    row.recorded_at
                ))
            })?;
        let mut envelope = Envelope::new(id)
            .with_timestamp(recorded_at)
            .with_correlation_id(correlation_id)
            .with_causation_id(causation_id)
            .with_origin(origin);
        if let Some(source) = row.source {
            envelope = envelope.with_source(Cow::Owned(source));
        }
        // The position orders the log as the sequence orders one bus.
        envelope.sequence = position;
        let record = EventRecord::new(row.name, version, row.payload.into_bytes(), envelope);
        Ok(StoredEvent {
            position,
            stream: row.stream,
            stream_version,
            record,
            recorded_at,
            handled: row.handled,
        })
    }
}

/// A UUID as both backends write it: lowercase, hyphenated.
pub(crate) fn text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// Now, as [`timestamp_text`] writes it.
pub(crate) fn now_text() -> String {
    now_text_at(SystemTime::now())
}

/// `at`, as [`timestamp_text`] writes it: a time near now.
pub(crate) fn now_text_at(at: SystemTime) -> String {
    timestamp_text(at).unwrap_or_default()
}

/// RFC 3339 in UTC with microseconds, the pinned form of `recorded_at`.
fn timestamp_text(timestamp: SystemTime) -> Result<String, String> {
    let at = OffsetDateTime::from(timestamp);
    if !(1..=9999).contains(&at.year()) {
        return Err(format!(
            "its timestamp (year {}) cannot be written as RFC 3339",
            at.year()
        ));
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    ))
}
