//! Events seen without their type: by catch-all handlers (`&AnyEvent`) and
//! by handlers of events nobody took (`&DeadEvent`).

use std::any::Any;
use std::fmt;
use std::ops::Deref;

use crate::event::Event;
use crate::meta::EventMeta;

/// Any event, seen by a catch-all handler: `#[subscribe] fn audit(e: &AnyEvent)`
/// is called for every event published on the bus.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[subscribe]
/// fn audit(event: &AnyEvent) {
///     println!("{} published", event.name());
/// }
/// ```
#[derive(Clone, Copy)]
pub struct AnyEvent<'a> {
    event: &'a dyn Any,
    meta: &'static EventMeta,
}

impl<'a> AnyEvent<'a> {
    pub(crate) fn new(event: &'a dyn Any, meta: &'static EventMeta) -> Self {
        Self { event, meta }
    }

    /// The event and its metadata.
    pub(crate) fn parts(&self) -> (&'a dyn Any, &'static EventMeta) {
        (self.event, self.meta)
    }

    /// The event's name ([`Event::NAME`]).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.meta.name()
    }

    /// The event's schema version ([`Event::VERSION`]).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.meta.version()
    }

    /// The event's Rust type path, e.g. `shop::OrderPlaced`.
    #[must_use]
    pub fn type_path(&self) -> &'static str {
        self.meta.type_path()
    }

    /// Whether the event is an `#[event(local)]` type.
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.meta.is_local()
    }

    /// Whether the event is of type `E`.
    #[must_use]
    pub fn is<E: Event>(&self) -> bool {
        self.event.is::<E>()
    }

    /// The event as `E`, if that is its type.
    #[must_use]
    pub fn downcast_ref<E: Event>(&self) -> Option<&'a E> {
        self.event.downcast_ref::<E>()
    }

    /// The event as JSON; `None` for local events, which are never encoded.
    #[must_use]
    pub fn to_json(&self) -> Option<serde_json::Value> {
        (self.meta.codec()?.to_json)(self.event)
    }
}

impl fmt::Debug for AnyEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyEvent")
            .field("name", &self.name())
            .field("type_path", &self.type_path())
            .finish_non_exhaustive()
    }
}

/// An event that no handler of its type took, handed to
/// `#[subscribe] fn f(e: &DeadEvent)` handlers once per publish.
///
/// It derefs to [`AnyEvent`] for the name, downcasting and JSON.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[subscribe]
/// fn unhandled(dead: &DeadEvent) {
///     eprintln!("nobody handles {}", dead.name());
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DeadEvent<'a> {
    event: AnyEvent<'a>,
}

impl<'a> DeadEvent<'a> {
    pub(crate) fn new(event: AnyEvent<'a>) -> Self {
        Self { event }
    }

    /// The event that nobody handled.
    #[must_use]
    pub fn event(&self) -> &AnyEvent<'a> {
        &self.event
    }
}

impl<'a> Deref for DeadEvent<'a> {
    type Target = AnyEvent<'a>;

    fn deref(&self) -> &AnyEvent<'a> {
        &self.event
    }
}
