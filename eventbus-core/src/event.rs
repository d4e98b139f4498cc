//! The [`Event`] trait, which ties a type to its metadata and its shared
//! route, and [`SerdeEvent`], the JSON functions of non-local events.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::meta::{Codec, EventMeta};
use crate::route::SharedRoute;

/// A type that can be published on a [`Bus`](crate::Bus).
///
/// Implement it with `#[derive(Event)]`, never by hand: the derive also
/// registers the type by name, so events that arrive as JSON can be turned
/// back into it.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
/// #[event(name = "shop.order_placed", version = 2)]
/// struct OrderPlaced {
///     item: String,
/// }
///
/// assert_eq!(OrderPlaced::NAME, "shop.order_placed");
/// assert_eq!(OrderPlaced::VERSION, 2);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event type",
    label = "not an event",
    note = "an event is a type with `#[derive(Event)]`"
)]
pub trait Event: Send + Sync + 'static {
    /// The name the event is known by outside Rust: in JSON, logs, records.
    /// Defaults to the type's name; set it with `#[event(name = "...")]`.
    const NAME: &'static str;
    /// The schema version carried with the event; `#[event(version = N)]`,
    /// 1 by default.
    const VERSION: u32;

    #[doc(hidden)]
    fn __meta() -> &'static EventMeta;

    #[doc(hidden)]
    fn __route() -> &'static SharedRoute<Self>
    where
        Self: Sized;
}

/// Bound that non-local events meet: they can be written as JSON and read
/// back.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the event `{Self}` cannot be stored or sent: it does not implement `serde::Serialize` and `serde::Deserialize`",
    label = "needs `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or mark it `#[event(local)]` if it never leaves this process"
)]
pub trait SerdeEvent: Serialize + DeserializeOwned {
    /// The functions that write the event as JSON and read it back.
    const CODEC: Codec;
}

// Without `do_not_recommend`, rustc reports the missing serde traits one by
// one instead of this trait's message.
#[diagnostic::do_not_recommend]
impl<E: Event + Serialize + DeserializeOwned> SerdeEvent for E {
    const CODEC: Codec = Codec {
        to_json: to_json::<E>,
        encode: encode::<E>,
        decode: decode::<E>,
    };
}

fn to_json<E: Event + Serialize>(event: &dyn Any) -> Option<serde_json::Value> {
    serde_json::to_value(event.downcast_ref::<E>()?).ok()
}

fn encode<E: Event + Serialize>(event: &dyn Any) -> Result<Vec<u8>, serde_json::Error> {
    match event.downcast_ref::<E>() {
        Some(event) => serde_json::to_vec(event),
        None => Err(serde::ser::Error::custom(format_args!(
            "the event is not a `{}`",
            std::any::type_name::<E>()
        ))),
    }
}

fn decode<E: DeserializeOwned + Send + 'static>(
    json: &[u8],
) -> Result<Box<dyn Any + Send>, serde_json::Error> {
    Ok(Box::new(serde_json::from_slice::<E>(json)?))
}
