//! What the bus calls: the wrappers `#[subscribe]` writes around handlers,
//! and [`CallArgs`], what every wrapper is handed besides the event.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::context::Context;
use crate::handler::BoxError;
use crate::meta::EventMeta;

/// The wrapper `#[subscribe]` writes around a sync handler of one event
/// type.
#[doc(hidden)]
pub type TypedCall<E> = fn(&E, &CallArgs<'_>) -> Result<(), BoxError>;

/// A `#[subscribe(filter = ..)]` function: the call is made only when it
/// returns true.
#[doc(hidden)]
pub type Filter<E> = fn(&E) -> bool;

/// The future an async handler's wrapper returns.
#[doc(hidden)]
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// The wrapper `#[subscribe]` writes around an `async fn` handler: it owns
/// the event and its context, so the future can be spawned.
#[doc(hidden)]
pub type AsyncCall<E> = fn(Arc<E>, Option<Arc<Context>>) -> HandlerFuture;

/// The wrapper around a catch-all (`&AnyEvent`) or `&DeadEvent` handler,
/// which sees the event without its type.
#[doc(hidden)]
pub type ErasedCall = fn(&CallArgs<'_>) -> Result<(), BoxError>;

/// What the bus hands to every generated handler wrapper besides the event.
#[doc(hidden)]
pub struct CallArgs<'a> {
    pub(crate) meta: &'static EventMeta,
    pub(crate) event: &'a dyn Any,
    pub(crate) context: Option<&'a Context>,
}

impl<'a> CallArgs<'a> {
    /// The delivery's context, for handlers that take parameters after the
    /// event.
    ///
    /// # Errors
    ///
    /// Only if the bus did not build a context for a handler that asked
    /// for one, which it always does; kept as an error rather than a panic.
    pub fn context(&self) -> Result<&'a Context, BoxError> {
        self.context
            .ok_or_else(|| missing_context(self.meta.name()))
    }
}

/// Takes the context an async handler's wrapper was given.
///
/// # Errors
///
/// As [`CallArgs::context`].
#[doc(hidden)]
pub fn owned_context(
    context: Option<Arc<Context>>,
    event_name: &'static str,
) -> Result<Arc<Context>, BoxError> {
    context.ok_or_else(|| missing_context(event_name))
}

fn missing_context(event_name: &str) -> BoxError {
    format!(
        "the bus built no context for a handler of `{event_name}` that takes one; please report this bug"
    )
    .into()
}

/// A registered handler's wrapper.
#[derive(Clone, Copy)]
pub(crate) enum HandlerCall {
    /// A [`TypedCall<E>`] for the handler's event type `E`.
    Typed(&'static (dyn Any + Send + Sync)),
    /// An [`AsyncCall<E>`] for the handler's event type `E`.
    Async(&'static (dyn Any + Send + Sync)),
    Erased(ErasedCall),
}
