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
    DeadLetters, EmitError, EmitErrorKind, Envelope, Event, EventRecord, Extension, Extensions,
    FailureKind, FromContext, HandlerFailure, HandlerInfo, HandlerKind, Inbound, IntoHandlerResult,
    Layer, MemoryDeadLetters, Mode, Needs, Origin, PublishError, RecordError, Report,
    SourceLocation, State, Subscription, Uuid, DEFAULT_DEAD_LETTER_CAPACITY,
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
/// # Parameters
///
/// The first parameter says which events the handler gets:
/// - `&E` for an event type `E`: every `E`;
/// - [`&AnyEvent`](AnyEvent): a catch-all that sees every event, of any type;
/// - [`&DeadEvent`](DeadEvent): an event that no handler of its type took.
///
/// Further parameters are handed in by the bus for each call:
/// - [`&Context`](Context): the delivery's envelope, and `ctx.publish(..)`
///   for follow-up events;
/// - [`State<T>`](State): a value given to
///   [`BusBuilder::state`]; a selected handler whose state was not given
///   makes [`BusBuilder::build`] fail.
///
/// The handler is a sync `fn` or an `async fn` (whose future is `Send`),
/// and returns `()` or `Result<(), E>` with
/// `E: Into<Box<dyn Error + Send + Sync>>`.
///
/// # Options
///
/// In `#[subscribe(...)]`, each at most once:
/// - `priority = i32`: higher runs first (default 0); ties run in source order.
/// - `group = "name"`: runs only on buses whose [`BusBuilder::groups`] name it.
/// - `mode = "inline" | "background" | "blocking"`: how the bus runs it (below).
/// - `retry = N`: a failed call is tried again up to `N` times (default 0).
/// - `timeout_ms = N`: an async or blocking call is stopped after `N` ms.
/// - `filter = path::to_fn`: a `fn(&E) -> bool`; on `false` the call is skipped.
/// - `name = "..."`: the name failures and [`Bus::handlers`] show (default: the
///   function's path).
/// - `publishes = [OtherEvent, ..]`: documents follow-ups for [`Bus::graph`].
/// - `crate = "..."`: the path to the `eventbus` crate, if it is renamed.
///
/// The modes: `"inline"` (the default) runs a sync handler on the
/// publishing thread, while `publish` spawns an async one and
/// `publish_async` awaits it; `"background"` always spawns it and never
/// awaits it; `"blocking"` runs a sync `fn` on tokio's blocking pool.
/// `&AnyEvent` and `&DeadEvent` handlers are sync and inline, and take no
/// `filter`; `timeout_ms` needs an `async fn` or `mode = "blocking"`.
///
/// # Example
///
/// ```
/// use std::sync::Mutex;
///
/// use eventbus::prelude::*;
///
/// #[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
/// struct OrderPlaced {
///     order: u32,
///     total: u64,
/// }
///
/// #[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
/// struct PaymentCharged {
///     order: u32,
/// }
///
/// struct Ledger(Mutex<Vec<u32>>);
///
/// fn is_large(order: &OrderPlaced) -> bool {
///     order.total >= 1_000
/// }
///
/// // Runs first, and declares its follow-up for `bus.graph()`.
/// #[subscribe(priority = 10, publishes = [PaymentCharged])]
/// fn charge(order: &OrderPlaced, ctx: &Context, ledger: State<Ledger>) {
///     ledger.0.lock().unwrap().push(order.order);
///     ctx.publish(PaymentCharged { order: order.order });
/// }
///
/// // Large orders only; a failed call is tried again up to 3 times.
/// #[subscribe(filter = is_large, retry = 3, name = "review_large_order")]
/// fn review(order: &OrderPlaced) -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// // Only on buses that run the "mail" group; stopped after 500 ms.
/// #[subscribe(group = "mail", timeout_ms = 500)]
/// async fn mail_receipt(payment: &PaymentCharged) -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// // Every event, of any type.
/// #[subscribe]
/// fn audit(event: &AnyEvent) {
///     println!("audit: {}", event.name());
/// }
///
/// // Events no handler of their type took.
/// #[subscribe]
/// fn unhandled(dead: &DeadEvent) {
///     println!("nobody took {}", dead.event().name());
/// }
///
/// let bus = Bus::builder()
///     .state(Ledger(Mutex::new(Vec::new())))
///     .build()
///     .unwrap();
/// let report = bus.publish(OrderPlaced { order: 7, total: 1_500 });
/// assert!(report.is_ok());
/// assert_eq!(*bus.state::<Ledger>().unwrap().0.lock().unwrap(), [7]);
/// ```
///
/// Handlers are free functions: on a method with `self` the macro says to
/// move it out of the `impl`. It cannot see that a function without `self`
/// sits in an `impl` block; rustc then reports "`const` items in this
/// context need a name" and "cannot find function".
pub use eventbus_macros::subscribe;

/// Test support: [`Bus::record`] keeps the events a bus delivers in a
/// [`Recorded`](testing::Recorded), to assert on the follow-ups a handler
/// publishes.
#[cfg(feature = "testing")]
pub mod testing {
    pub use eventbus_core::testing::*;
}

/// The names most programs need: `use eventbus::prelude::*;`.
pub mod prelude {
    pub use crate::{
        subscribe, AnyEvent, Bus, BusBuilder, Context, DeadEvent, Event, HandlerFailure,
        HandlerInfo, Layer, Report, State, Subscription,
    };
}

#[doc(hidden)]
pub use eventbus_core::__private;

/// The hand-written building blocks, for `benches/building_blocks.rs`.
/// Not a public API: it changes without notice.
#[doc(hidden)]
pub use eventbus_core::__bench;
