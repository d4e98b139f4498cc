//! What the bus calls: the wrappers `#[subscribe]` writes around handlers,
//! and [`CallArgs`], what every wrapper is handed besides the event.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use crate::context::{Context, Parts, States};
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

/// The future an async handler's wrapper returns, borrowing what it was
/// made from for `'a`.
#[doc(hidden)]
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// The wrapper `#[subscribe]` writes around an `async fn` handler. Its
/// future borrows the event, the context and the states: `publish_async`
/// awaits it beside the event on the caller's task, with no share of the
/// event per handler; a spawned call owns them in its task and lends them.
#[doc(hidden)]
pub type AsyncCall<E> = for<'a> fn(&'a E, Option<&'a Context>, &'a States) -> HandlerFuture<'a>;

/// The wrapper around a catch-all (`&AnyEvent`) or `&DeadEvent` handler,
/// which sees the event without its type.
#[doc(hidden)]
pub type ErasedCall = fn(&CallArgs<'_>) -> Result<(), BoxError>;

/// What the bus hands to every generated handler wrapper besides the event.
#[doc(hidden)]
pub struct CallArgs<'a> {
    pub(crate) meta: &'static EventMeta,
    pub(crate) event: &'a dyn Any,
    /// Built only for handlers whose parameters need it.
    pub(crate) context: Option<&'a Context>,
    pub(crate) states: &'a States,
}

impl<'a> CallArgs<'a> {
    /// What the handler's parameters are made from.
    #[must_use]
    pub fn parts(&self) -> Parts<'a> {
        Parts::new(self.context, self.states)
    }
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
