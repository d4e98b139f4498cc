//! What the bus calls: the wrappers `#[subscribe]` writes around handlers,
//! and [`CallArgs`], what every wrapper is handed besides the event.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// The future an async handler's wrapper returns.
#[doc(hidden)]
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// The wrapper `#[subscribe]` writes around an `async fn` handler: it owns
/// the event and its context, so the future can be spawned; it takes a
/// share of the states only if its parameters read them.
#[doc(hidden)]
pub type AsyncCall<E> = fn(Arc<E>, Option<Arc<Context>>, &Arc<States>) -> HandlerFuture;

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
