//! Typed events routed to annotated functions, with no manual wiring.
//!
//! Put `#[derive(Event)]` on plain data types and `#[subscribe]` on free
//! functions that take `&YourEvent`. Every handler registers itself at link
//! time, so a [`Bus`] built anywhere in the program already routes each event
//! type to its handlers.
//!
//! ```
//! use eventbus::prelude::*;
//!
//! #[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
//! struct OrderPlaced {
//!     item: String,
//!     quantity: u32,
//! }
//!
//! #[subscribe]
//! fn update_inventory(order: &OrderPlaced) {
//!     println!("Order placed: {}. Updating inventory...", order.item);
//! }
//!
//! #[subscribe(priority = -10)]
//! fn send_notification(order: &OrderPlaced) -> Result<(), std::io::Error> {
//!     println!("Sending notification for order: {}", order.item);
//!     Ok(())
//! }
//!
//! let bus = Bus::new();
//! let report = bus.publish(OrderPlaced { item: "Book".into(), quantity: 1 });
//! assert_eq!(report.handled(), 2);
//! assert!(report.is_ok());
//! ```
//!
//! Handlers live wherever you like, in any crate of the program, as long as
//! that crate is linked: see the README's "Pitfalls" section.

#![forbid(unsafe_code)]

pub use eventbus_core::{
    layer, AnyEvent, BoxError, BuildError, Bus, BusBuilder, Context, DeadEvent, DeadLetter,
    DeadLetters, EmitError, EmitErrorKind, Envelope, Event, FailureKind, FromContext,
    HandlerFailure, HandlerInfo, HandlerKind, IntoHandlerResult, Layer, MemoryDeadLetters, Mode,
    Origin, PublishError, Report, SourceLocation, State, Subscription, Uuid,
    DEFAULT_MAX_CASCADE_DEPTH, DEFAULT_MAX_CASCADE_EVENTS,
};

/// Derives [`Event`](trait@Event) for a struct or enum and registers it by
/// name.
///
/// Options, in `#[event(...)]`:
/// - `name = "shop.order_placed"`: the name outside Rust (default: the
///   type's name);
/// - `version = 2`: the schema version (default 1);
/// - `local`: the event never leaves the process, so it needs no
///   `Serialize`/`Deserialize` and is never looked up by name;
/// - `crate = "path"`: where the `eventbus` crate is, if renamed.
///
/// Without `local`, the type must implement `serde::Serialize` and
/// `serde::Deserialize`.
pub use eventbus_macros::Event;

/// Registers a free function as a handler of the event it takes by
/// reference.
///
/// The first parameter is `&E` for an event type `E`, `&AnyEvent` (called
/// for every event) or `&DeadEvent` (called for events no handler took).
/// The function returns `()` or `Result<(), E>` with
/// `E: Into<Box<dyn Error + Send + Sync>>`.
///
/// Options, in `#[subscribe(...)]`:
/// - `priority = 10`: higher runs first (default 0); ties run in source
///   order;
/// - `name = "..."`: the name failures and `Bus::handlers` show (default:
///   the function's path);
/// - `crate = "path"`: where the `eventbus` crate is, if renamed.
///
/// Handlers are free functions: on a method with `self` the macro says to
/// move it out of the `impl`. It cannot see that a function without `self`
/// sits in an `impl` block; rustc then reports "`const` items in this
/// context need a name" and "cannot find function".
pub use eventbus_macros::subscribe;

#[cfg(feature = "testing")]
pub use eventbus_core::testing;

/// The names most programs need: `use eventbus::prelude::*;`.
pub mod prelude {
    pub use crate::{
        subscribe, AnyEvent, Bus, BusBuilder, Context, DeadEvent, Event, HandlerFailure,
        HandlerInfo, Layer, Report, State, Subscription,
    };
}

#[doc(hidden)]
pub use eventbus_core::__private;
