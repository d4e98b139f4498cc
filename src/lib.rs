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
    layer, linked_handlers, AnyEvent, BoxError, BuildError, Bus, BusBuilder, Context, DeadEvent,
    DeadLetter, DeadLetters, EmitError, EmitErrorKind, Envelope, Event, EventMeta, EventRecord,
    Extension, Extensions, FailureKind, FromContext, HandlerFailure, HandlerInfo, HandlerKind,
    Inbound, IntoHandlerResult, IntoUpcastResult, Journal, JournalEntry, Layer, Logged,
    MemoryDeadLetters, MemoryJournal, Mode, Needs, Origin, PublishError, RecordError, Report,
    SendOutcome, Sink, SinkRetry, SinkStats, SourceLocation, State, Subscription, UpcastError,
    Uuid, DEFAULT_DEAD_LETTER_CAPACITY, DEFAULT_MAX_CASCADE_DEPTH, DEFAULT_MAX_CASCADE_EVENTS,
    DEFAULT_SINK_BATCH,
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

/// Registers a function that turns an event's JSON from one version into
/// the next, so records written by older programs can still be read.
///
/// `#[upcast(event = E, from = N)]` goes on a free function that takes the
/// JSON of `E` at version `N` and returns it at version `N + 1`. An event
/// at `#[event(version = 3)]` whose records may be at version 1 needs one
/// upcaster from 1 and one from 2; a record is passed through each, in
/// order, up to the current version.
///
/// # Options
///
/// - `event = Type`: the event, a type with `#[derive(Event)]` and the
///   serde derives (an `#[event(local)]` type is never read from a record).
/// - `from = N`: the version the function reads, from 1 to below the
///   event's version (checked at compile time).
/// - `crate = "..."`: the path to the `eventbus` crate, if it is renamed.
///
/// # The function
///
/// A plain, non-generic `fn` with one parameter, `serde_json::Value`
/// (add `serde_json` to your dependencies), that returns the new
/// `serde_json::Value`, or `Result<serde_json::Value, E>` with
/// `E: Into<Box<dyn Error + Send + Sync>>` when it can fail.
///
/// # Checked when a bus is built
///
/// [`BusBuilder::build`] fails, and [`Bus::new`] panics with the same
/// text, when an event's upcasters do not form one chain: from the lowest
/// version one reads up to the event's version, each version needs exactly
/// one ([`BuildError::MissingUpcaster`], [`BuildError::DuplicateUpcaster`]).
///
/// # Example
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::upcast;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "shop.order_placed", version = 3)]
/// struct OrderPlaced {
///     order: u32,
///     total_cents: u64,
///     currency: String,
/// }
///
/// /// Version 1 had `total` in whole units.
/// #[upcast(event = OrderPlaced, from = 1)]
/// fn order_placed_v1(mut old: serde_json::Value) -> Result<serde_json::Value, String> {
///     let total = old["total"].as_u64().ok_or("`total` is not a whole number")?;
///     let fields = old.as_object_mut().ok_or("not an object")?;
///     fields.remove("total");
///     fields.insert("total_cents".into(), (total * 100).into());
///     Ok(old)
/// }
///
/// /// Version 2 had no currency.
/// #[upcast(event = OrderPlaced, from = 2)]
/// fn order_placed_v2(mut old: serde_json::Value) -> serde_json::Value {
///     old["currency"] = "EUR".into();
///     old
/// }
///
/// // The chain 1 -> 2 -> 3 is complete, so the bus builds.
/// let bus = Bus::builder().build().unwrap();
/// # drop(bus);
/// ```
///
/// Upcasters are free functions: on a method with `self` the macro says to
/// move it out of the `impl`.
pub use eventbus_macros::upcast;

/// Test support: [`Bus::record`] keeps the events a bus delivers in a
/// [`Recorded`](testing::Recorded), to assert on the follow-ups a handler
/// publishes.
#[cfg(feature = "testing")]
pub mod testing {
    pub use eventbus_core::testing::*;
}

/// The event log (feature `store`): event records appended to streams in
/// SQLite or PostgreSQL, read back by stream or in log order. See
/// [`store::Store`].
#[cfg(feature = "store")]
pub use eventbus_store as store;

/// Webhooks out (feature `http`): [`http::WebhookSink`] sends the records
/// of accepted events, signed as Standard Webhooks says and retried on a
/// schedule; [`http::verify`] checks them on the receiving side.
#[cfg(feature = "http")]
pub use eventbus_http as http;

/// Many processes on RabbitMQ (feature `rabbitmq`): [`rabbitmq::RabbitMq`]
/// publishes every event to the broker with publisher confirms and runs a
/// consumer group's handlers on what arrives, with retry tiers, a dead
/// queue and reconnects.
#[cfg(feature = "rabbitmq")]
pub use eventbus_rabbitmq as rabbitmq;

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
