//! [`EventRecord`]: an event as data (its name, version, JSON and
//! envelope), the form in which events leave the process and come back.
//! Its JSON form and the typed event in and out of its payload are in
//! `record_json`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::envelope::Envelope;

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
/// from JSON has origin [`Origin::Remote`](crate::Origin::Remote) and no source: the transport
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
    /// The event's registered name ([`Event::NAME`](crate::Event::NAME)).
    pub name: Cow<'static, str>,
    /// The schema version the payload was written in ([`Event::VERSION`](crate::Event::VERSION)).
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
    /// [`Origin::Remote`](crate::Origin::Remote).
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
