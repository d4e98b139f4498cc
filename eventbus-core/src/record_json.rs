//! The JSON of an [`EventRecord`]: its form on the wire (the webhook
//! body), and the typed event written into and read out of its payload.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::any_event::AnyEvent;
use crate::envelope::{rfc3339, Envelope, Origin, Uuid};
use crate::error::{PublishError, RecordError};
use crate::event::Event;
use crate::meta::EventMeta;
use crate::record::EventRecord;
use crate::registry::Registry;
use crate::upcast::upcast;

impl EventRecord {
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
}

// Beside the record's JSON rather than in `any_event`: reading it uses
// the registry, which is built on `AnyEvent`.
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

impl EventMeta {
    /// The non-local event type registered under `name` in this program,
    /// as a transport needs it to read a payload sent under that name.
    ///
    /// # Errors
    ///
    /// [`PublishError::UnknownEvent`] with the closest registered names,
    /// or [`PublishError::LocalEvent`] for an `#[event(local)]` type.
    pub fn find(name: &str) -> Result<&'static EventMeta, PublishError> {
        find_event(name)
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

/// An RFC 3339 time, any offset.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339).map(SystemTime::from)
}
