//! What the bus knows about one event type without knowing the type:
//! [`EventMeta`], one `static` per type, written by `#[derive(Event)]`.
//!
//! The layers below the dispatcher (handler records, reports, the
//! registry, catch-all handlers) see event types only through it.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Slot value of an event type that no registry has numbered yet.
const UNASSIGNED: usize = usize::MAX;

/// Numbers handed to event types, in the order they are first needed.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// What the bus knows about one event type without knowing the type: its
/// name, version and Rust path. One `static` per type, written by
/// `#[derive(Event)]`; a [`Sink`](crate::Sink) sees event types through
/// it.
pub struct EventMeta {
    name: &'static str,
    version: u32,
    type_path: &'static str,
    slot: AtomicUsize,
    codec: Option<Codec>,
    /// The type's own functions for the layers above (building its route,
    /// delivering it when only its metadata is at hand): an
    /// `event_fns::EventFns`, opaque here because its signatures name
    /// those layers.
    fns: &'static (dyn Any + Send + Sync),
}

/// The functions that turn a non-local event to and from JSON.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Codec {
    pub(crate) to_json: fn(&dyn Any) -> Option<serde_json::Value>,
    /// The event as JSON bytes, its fields in the order of the type.
    pub(crate) encode: fn(&dyn Any) -> Result<Vec<u8>, serde_json::Error>,
    pub(crate) decode: Decode,
}

/// Reads an event of one type from its JSON, boxed.
type Decode = fn(&[u8]) -> Result<Box<dyn Any + Send>, serde_json::Error>;

impl EventMeta {
    /// Metadata of an event that can be encoded, stored and sent, with
    /// `codec` from `SerdeEvent::CODEC` and `fns` from
    /// `dispatch::event_fns::<E>()`.
    #[doc(hidden)]
    #[must_use]
    pub const fn new(
        name: &'static str,
        version: u32,
        type_path: &'static str,
        codec: Codec,
        fns: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self::with(name, version, type_path, Some(codec), fns)
    }

    /// Metadata of an `#[event(local)]` type: never encoded, never looked
    /// up by name.
    #[doc(hidden)]
    #[must_use]
    pub const fn local(
        name: &'static str,
        version: u32,
        type_path: &'static str,
        fns: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self::with(name, version, type_path, None, fns)
    }

    const fn with(
        name: &'static str,
        version: u32,
        type_path: &'static str,
        codec: Option<Codec>,
        fns: &'static (dyn Any + Send + Sync),
    ) -> Self {
        Self {
            name,
            version,
            type_path,
            slot: AtomicUsize::new(UNASSIGNED),
            codec,
            fns,
        }
    }

    /// The event's registered name ([`Event::NAME`](crate::Event::NAME)).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The event's schema version ([`Event::VERSION`](crate::Event::VERSION)).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The Rust path of the type, e.g. `shop::OrderPlaced`.
    #[must_use]
    pub fn type_path(&self) -> &'static str {
        self.type_path
    }

    /// Whether the type is `#[event(local)]`: never encoded, never sent.
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.codec.is_none()
    }

    pub(crate) fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// The event as JSON; `None` for a local event.
    pub(crate) fn to_json(&self, event: &dyn Any) -> Option<serde_json::Value> {
        (self.codec?.to_json)(event)
    }

    pub(crate) fn fns(&self) -> &'static (dyn Any + Send + Sync) {
        self.fns
    }

    /// The index of this type in the routing tables of buses that leave
    /// handlers out, and in run-time subscription tables. Numbers are
    /// handed out once per process and never change.
    #[inline]
    pub(crate) fn slot(&self) -> usize {
        let slot = self.slot.load(Ordering::Relaxed);
        if slot == UNASSIGNED {
            self.assign_slot()
        } else {
            slot
        }
    }

    #[cold]
    fn assign_slot(&self) -> usize {
        let fresh = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        match self
            .slot
            .compare_exchange(UNASSIGNED, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            // Another thread numbered the type first; its number wins and
            // `fresh` stays unused, which only leaves a gap in the table.
            Err(existing) => existing,
        }
    }
}

impl std::fmt::Debug for EventMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventMeta")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("type_path", &self.type_path)
            .field("local", &self.is_local())
            .finish_non_exhaustive()
    }
}
