//! The pinned wire format: an [`EventRecord`] as an AMQP message and back.
//!
//! Body: the event's JSON. Properties: `content_type` `application/json`,
//! `delivery_mode` 2, `message_id` the envelope id, `correlation_id`,
//! `timestamp` (unix seconds), `type` the event name. Headers:
//! `eventbus-version`, `eventbus-causation-id` (absent for a root event),
//! `eventbus-timestamp` (RFC 3339 with microseconds).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventbus_core::{Envelope, EventMeta, EventRecord, Origin, Uuid};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use time::format_description::BorrowedFormatItem;
use time::OffsetDateTime;

use crate::names::{short, text};

/// The source set on the envelope of every event read from the broker.
pub const SOURCE: &str = "rabbitmq";

/// Header: the schema version of the payload.
pub const VERSION: &str = "eventbus-version";
/// Header: the id of the event whose handler published this one.
pub const CAUSATION_ID: &str = "eventbus-causation-id";
/// Header: the envelope's timestamp, RFC 3339 with microseconds.
pub const TIMESTAMP: &str = "eventbus-timestamp";
/// Header on retries and dead messages: the handler that failed (its full
/// path), the only one a retry runs.
pub const HANDLER: &str = "eventbus-handler";
/// Header on dead messages (and retries): the last error.
pub const ERROR: &str = "eventbus-error";
/// Header on retries and dead messages: the tries made so far.
pub const ATTEMPTS: &str = "eventbus-attempts";

/// The headers the broker writes when it dead-letters a message; taken
/// out when a message is moved on by hand (a retry tier, a redrive), or
/// the broker would take its next trip back for a cycle and drop it.
pub(crate) const DEATH_HEADERS: &[&str] = &[
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// The properties of `record`'s message.
pub(crate) fn properties(record: &EventRecord) -> BasicProperties {
    let envelope = &record.envelope;
    let mut headers = FieldTable::default();
    headers.insert(
        VERSION.into(),
        AMQPValue::LongLongInt(i64::from(record.version)),
    );
    if let Some(causation) = envelope.causation_id {
        headers.insert(CAUSATION_ID.into(), text(&causation.to_string()));
    }
    headers.insert(TIMESTAMP.into(), text(&rfc3339(envelope.timestamp)));
    let seconds = envelope
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    BasicProperties::default()
        .with_content_type(short("application/json"))
        .with_delivery_mode(2)
        .with_message_id(short(&envelope.id.to_string()))
        .with_correlation_id(short(&envelope.correlation_id.to_string()))
        .with_timestamp(seconds)
        .with_type(short(&record.name))
        .with_headers(headers)
}

/// What a message from the broker says, read as leniently as a foreign
/// publisher needs: the name is `type`, else the routing key; a missing or
/// non-UUID `message_id` gets a new UUID v7; missing headers take defaults
/// (the version this program knows, no causation, the `timestamp`
/// property or now).
pub(crate) fn record(properties: &BasicProperties, routing_key: &str, body: &[u8]) -> EventRecord {
    let name = properties
        .kind()
        .as_ref()
        .map_or(routing_key, |kind| kind.as_str())
        .to_owned();
    let headers = properties.headers().as_ref();
    let id = properties
        .message_id()
        .as_ref()
        .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        .unwrap_or_else(Uuid::now_v7);
    let correlation_id = properties
        .correlation_id()
        .as_ref()
        .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        .unwrap_or(id);
    let causation_id = header_text(headers, CAUSATION_ID).and_then(|id| Uuid::parse_str(&id).ok());
    let timestamp = header_text(headers, TIMESTAMP)
        .and_then(|stamp| {
            OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(SystemTime::from)
        .or_else(|| {
            properties
                .timestamp()
                // Up to the end of year 9999, as RFC 3339 writes times.
                .filter(|seconds| *seconds < 253_402_300_800)
                .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
        })
        .unwrap_or_else(SystemTime::now);
    let version = header_int(headers, VERSION)
        .and_then(|version| u32::try_from(version).ok())
        .or_else(|| EventMeta::find(&name).ok().map(EventMeta::version))
        .unwrap_or(1);
    let envelope = Envelope::new(id)
        .with_correlation_id(correlation_id)
        .with_causation_id(causation_id)
        .with_timestamp(timestamp)
        .with_origin(Origin::Remote)
        .with_source(SOURCE);
    EventRecord::new(name, version, body.to_vec(), envelope)
}

/// A text header (long or short string).
pub(crate) fn header_text(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

/// An integer header, of whichever width the publisher chose.
pub(crate) fn header_int(headers: Option<&FieldTable>, key: &str) -> Option<i64> {
    Some(match headers?.inner().get(key)? {
        AMQPValue::ShortShortInt(value) => i64::from(*value),
        AMQPValue::ShortShortUInt(value) => i64::from(*value),
        AMQPValue::ShortInt(value) => i64::from(*value),
        AMQPValue::ShortUInt(value) => i64::from(*value),
        AMQPValue::LongInt(value) => i64::from(*value),
        AMQPValue::LongUInt(value) => i64::from(*value),
        AMQPValue::LongLongInt(value) => *value,
        AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok()?.parse().ok()?,
        _ => return None,
    })
}

/// `properties` with `set` headers put in and `remove` ones taken out;
/// everything else kept.
pub(crate) fn with_headers(
    properties: &BasicProperties,
    set: &[(&str, AMQPValue)],
    remove: &[&str],
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let mut table: std::collections::BTreeMap<_, _> = headers.inner().clone();
    for key in remove {
        table.remove(*key);
    }
    for (key, value) in set {
        table.insert((*key).into(), value.clone());
    }
    headers = FieldTable::from(table);
    properties.clone().with_headers(headers)
}

/// An error as a header value, cut to a length brokers and tools show
/// whole.
pub(crate) fn error_header(error: &str) -> AMQPValue {
    const MAX: usize = 4096;
    let mut end = error.len().min(MAX);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    AMQPValue::LongString(LongString::from(&error[..end]))
}

/// `at` in RFC 3339, UTC, with microseconds: the `eventbus-timestamp`
/// header's form.
///
/// # Panics
///
/// For a time outside the years 0 to 9999, which neither a clock nor a
/// message read from the broker gives.
#[must_use]
pub fn rfc3339(at: SystemTime) -> String {
    static FORMAT: OnceLock<Vec<BorrowedFormatItem<'static>>> = OnceLock::new();
    let format = FORMAT.get_or_init(|| {
        time::format_description::parse_borrowed::<1>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
        )
        .expect("the format is valid")
    });
    OffsetDateTime::from(at)
        .format(format.as_slice())
        .expect("a time near now formats")
}
