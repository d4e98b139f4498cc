//! [`EventRecord`]: an event as data (its name, version, JSON and
//! envelope), the form in which events leave the process and come back.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::any_event::AnyEvent;
use crate::envelope::{Envelope, Origin, Uuid};
use crate::error::{PublishError, RecordError};
use crate::event::Event;
use crate::meta::EventMeta;
use crate::registry::Registry;
use crate::upcast::upcast;

/// One event as data: what sinks send, what the event log stores, what a
/// transport hands to [`Bus::deliver`](crate::Bus::deliver).
///
/// Its JSON form (`Serialize`, `Deserialize`, [`EventRecord::to_json`]) is
/// the webhook body:
///
/// ```json
/// {"event": "shop.order_placed", "payload": {"order": 7, "total_cents": 1250},
///  "id": "0190…", "version": 1, "timestamp": "2026-12-06T16:02:03.123456789Z",
///  "correlation_id": "0190…", "causation_id": null}
/// ```
///
/// `payload` is embedded as the event's own JSON, its fields in the order
/// of the Rust type. Read back, only `event` and `payload` are required
/// (the body the original `WebhookBus` posts): a missing `id` is made, a
/// missing `version` is the version this program knows, a missing
/// `timestamp` is now, a missing `correlation_id` is the id. A record read
/// from JSON has origin [`Origin::Remote`] and no source: the transport
/// that read it names itself with [`Envelope::with_source`].
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::{Envelope, EventRecord};
///
/// #[derive(Event, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.order_placed")]
/// struct OrderPlaced {
///     order: u32,
///     total_cents: u64,
/// }
///
/// let placed = OrderPlaced { order: 7, total_cents: 1250 };
/// let record = EventRecord::from_event(&placed, Envelope::generate()).unwrap();
/// let json = record.to_json();
/// assert!(json.starts_with(r#"{"event":"doc.order_placed","payload":{"order":7,"total_cents":1250},"id":""#));
///
/// let read = EventRecord::from_json(json.as_bytes()).unwrap();
/// assert_eq!(read.envelope.id, record.envelope.id);
/// assert_eq!(read.decode::<OrderPlaced>().unwrap(), placed);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRecord {
    /// The event's registered name ([`Event::NAME`]).
    pub name: Cow<'static, str>,
    /// The schema version the payload was written in ([`Event::VERSION`]).
    pub version: u32,
    /// The event as JSON, shared by every sink that sends it.
    pub payload: Arc<[u8]>,
    /// Identity, order and lineage.
    pub envelope: Envelope,
}

impl EventRecord {
    /// A record of `payload` (the event's JSON) under `name` and
    /// `version`, with `envelope`. Nothing is checked here: a name no type
    /// is registered under, or a payload that does not decode, is an error
    /// when the record is delivered or decoded.
    #[must_use]
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        version: u32,
        payload: impl Into<Arc<[u8]>>,
        envelope: Envelope,
    ) -> Self {
        Self {
            name: name.into(),
            version,
            payload: payload.into(),
            envelope,
        }
    }

    /// The record of `event`, with `envelope`.
    ///
    /// # Errors
    ///
    /// [`RecordError::LocalEvent`] for an `#[event(local)]` type, which
    /// never leaves the process; [`RecordError::Encode`] when `serde_json`
    /// cannot write the event (a map with keys that are not strings).
    pub fn from_event<E: Event>(event: &E, envelope: Envelope) -> Result<Self, RecordError> {
        Self::encode(E::__meta(), event, envelope)
    }

    /// The record of an event seen through its metadata.
    pub(crate) fn encode(
        meta: &'static EventMeta,
        event: &dyn std::any::Any,
        envelope: Envelope,
    ) -> Result<Self, RecordError> {
        let Some(codec) = meta.codec() else {
            return Err(RecordError::LocalEvent {
                name: meta.name(),
                type_path: meta.type_path(),
            });
        };
        let payload = (codec.encode)(event).map_err(|source| RecordError::Encode {
            name: meta.name(),
            source,
        })?;
        Ok(Self {
            name: Cow::Borrowed(meta.name()),
            version: meta.version(),
            payload: payload.into(),
            envelope,
        })
    }

    /// The event, decoded from the payload as `E`.
    ///
    /// # Errors
    ///
    /// [`PublishError::WrongEvent`] when the record is of another event;
    /// [`PublishError::Upcast`] when its version is newer than `E`'s, or
    /// older and the upcasters cannot bring it up to `E`'s (an older
    /// record is upcast first, step by step); [`PublishError::InvalidJson`]
    /// with `serde_json`'s message when the payload does not decode.
    pub fn decode<E: Event + DeserializeOwned>(&self) -> Result<E, PublishError> {
        let meta = E::__meta();
        if self.name != meta.name() {
            return Err(PublishError::WrongEvent {
                expected: meta.name(),
                found: self.name.clone().into_owned(),
            });
        }
        let payload = upcast(meta, self.version, &self.payload)?;
        serde_json::from_slice(&payload).map_err(|source| PublishError::InvalidJson {
            name: meta.name(),
            type_path: meta.type_path(),
            source,
        })
    }

    /// The payload as text; `None` if it is not UTF-8 (then it is not JSON
    /// either).
    #[must_use]
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The record's JSON form (see [`EventRecord`]).
    ///
    /// # Panics
    ///
    /// If the payload is not JSON: a record the bus built always holds
    /// JSON; one built with [`EventRecord::new`] from other bytes can be
    /// written with `serde_json::to_string`, which returns the error.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event record's payload is JSON")
    }

    /// A record read from its JSON form (see [`EventRecord`]), with origin
    /// [`Origin::Remote`].
    ///
    /// # Errors
    ///
    /// `serde_json`'s error when the JSON is not a record: a missing
    /// `event` or `payload`, an id that is not a UUID, a timestamp that is
    /// not RFC 3339.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

// Beside the record rather than in `any_event`: the record reads the
// registry, which is built on `AnyEvent`.
impl AnyEvent<'_> {
    /// The event as a record with `envelope`, e.g. the one a catch-all
    /// handler reads from its context, to forward it:
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[subscribe]
    /// fn forward(event: &AnyEvent, ctx: &Context) {
    ///     if let Ok(record) = event.to_record(ctx.envelope()) {
    ///         println!("{}", record.to_json());
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecordError::LocalEvent`] for an `#[event(local)]` type;
    /// [`RecordError::Encode`] when `serde_json` cannot write the event.
    pub fn to_record(&self, envelope: &Envelope) -> Result<EventRecord, RecordError> {
        let (event, meta) = self.parts();
        EventRecord::encode(meta, event, envelope.clone())
    }
}

/// The non-local event type registered under `name`.
pub(crate) fn find_event(name: &str) -> Result<&'static EventMeta, PublishError> {
    let registry = Registry::get();
    if let Some(meta) = registry.by_name.get(name) {
        return Ok(meta);
    }
    if let Some(local) = registry.events.iter().find(|meta| meta.name() == name) {
        return Err(PublishError::LocalEvent {
            name: local.name(),
            type_path: local.type_path(),
        });
    }
    Err(PublishError::UnknownEvent {
        name: name.to_owned(),
        suggestions: registry.similar_names(name),
    })
}

/// The event `meta` describes, decoded from `json`.
pub(crate) fn decode_payload(
    meta: &'static EventMeta,
    json: &[u8],
) -> Result<Box<dyn std::any::Any + Send>, PublishError> {
    let invalid = |source| PublishError::InvalidJson {
        name: meta.name(),
        type_path: meta.type_path(),
        source,
    };
    match meta.codec() {
        Some(codec) => (codec.decode)(json).map_err(invalid),
        // `by_name` holds non-local events only.
        None => Err(PublishError::LocalEvent {
            name: meta.name(),
            type_path: meta.type_path(),
        }),
    }
}

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let payload = String::from_utf8_lossy(&self.payload);
        f.debug_struct("EventRecord")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("payload", &payload)
            .field("envelope", &self.envelope)
            .finish()
    }
}

/// The JSON form, in the pinned field order.
#[derive(Serialize)]
struct Body<'a> {
    event: &'a str,
    payload: &'a RawValue,
    id: Uuid,
    version: u32,
    timestamp: String,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
}

impl Serialize for EventRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let payload: &RawValue = serde_json::from_slice(&self.payload).map_err(|error| {
            S::Error::custom(format_args!(
                "the payload of event `{}` is not JSON: {error}",
                self.name
            ))
        })?;
        let envelope = &self.envelope;
        Body {
            event: &self.name,
            payload,
            id: envelope.id,
            version: self.version,
            timestamp: rfc3339(envelope.timestamp).map_err(S::Error::custom)?,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
        }
        .serialize(serializer)
    }
}

/// The JSON form as read: only `event` and `payload` are required.
#[derive(Deserialize)]
struct Incoming {
    event: String,
    payload: Box<RawValue>,
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    correlation_id: Option<Uuid>,
    #[serde(default)]
    causation_id: Option<Uuid>,
}

impl<'de> Deserialize<'de> for EventRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let incoming = Incoming::deserialize(deserializer)?;
        let known = Registry::get()
            .by_name
            .get(incoming.event.as_str())
            .copied();
        let mut envelope = match incoming.id {
            Some(id) => Envelope::new(id),
            None => Envelope::generate(),
        };
        if let Some(timestamp) = &incoming.timestamp {
            envelope.timestamp = parse_rfc3339(timestamp).map_err(|error| {
                D::Error::custom(format_args!(
                    "`timestamp` is not an RFC 3339 time (`2026-12-06T16:02:03Z`): {error}"
                ))
            })?;
        }
        if let Some(correlation_id) = incoming.correlation_id {
            envelope.correlation_id = correlation_id;
        }
        envelope.causation_id = incoming.causation_id;
        envelope.origin = Origin::Remote;
        let payload: Box<str> = incoming.payload.into();
        Ok(Self {
            version: incoming
                .version
                .unwrap_or_else(|| known.map_or(1, EventMeta::version)),
            // A registered name is shared, not copied into each record.
            name: match known {
                Some(meta) => Cow::Borrowed(meta.name()),
                None => Cow::Owned(incoming.event),
            },
            payload: Arc::from(payload.into_boxed_bytes()),
            envelope,
        })
    }
}

/// `timestamp` in RFC 3339, in UTC, to the nanosecond.
pub(crate) fn rfc3339(timestamp: SystemTime) -> Result<String, time::error::Format> {
    OffsetDateTime::from(timestamp).format(&Rfc3339)
}

/// An RFC 3339 time, any offset.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339).map(SystemTime::from)
}
