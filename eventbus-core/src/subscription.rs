//! Handlers added at run time with [`Bus::subscribe`](crate::Bus::subscribe),
//! removed when their [`Subscription`] is dropped.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};

use crate::bus::Bus;
use crate::call::HandlerFuture;
use crate::context::Context;
use crate::dispatcher::Dispatcher;
use crate::event::Event;
use crate::handler::{BoxError, HandlerInfo, HandlerKind, IntoHandlerResult, Mode, SourceLocation};
use crate::subs::{Sub, SubCall};

/// A handler added at run time with [`Bus::subscribe`](crate::Bus::subscribe)
/// or [`Bus::subscribe_async`](crate::Bus::subscribe_async); dropping it
/// unsubscribes.
///
/// Once `drop` has returned, the handler is never started again. For a
/// sync handler outside an async runtime, `drop` also waits for calls
/// already running on other threads, and never for a call in progress on
/// its own thread, so a handler may drop subscriptions (its own included)
/// without deadlock. Inside a runtime, and for async handlers (whose calls
/// are futures the dropping thread may be the one to poll), `drop` never
/// blocks: it stops new calls and returns;
/// [`unsubscribe`](Self::unsubscribe)`.await` also waits for the calls in
/// flight.
///
/// ```
/// use eventbus::prelude::*;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Tick;
///
/// let bus = Bus::new();
/// let ticks = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&ticks);
/// let subscription = bus.subscribe(move |_: &Tick| {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// let _ = bus.publish(Tick);
/// drop(subscription);
/// let _ = bus.publish(Tick);
/// assert_eq!(ticks.load(Ordering::Relaxed), 1);
/// ```
#[must_use = "dropping a Subscription unsubscribes at once; call `.detach()` to keep the handler for the bus's lifetime"]
pub struct Subscription {
    /// Unsubscribing from a bus that is gone does nothing.
    dispatcher: Weak<Dispatcher>,
    slot: usize,
    sub: Arc<Sub>,
    detached: bool,
}

impl Subscription {
    pub(crate) fn new(dispatcher: &Arc<Dispatcher>, slot: usize, sub: Arc<Sub>) -> Self {
        Self {
            dispatcher: Arc::downgrade(dispatcher),
            slot,
            sub,
            detached: false,
        }
    }

    /// Keeps the handler subscribed for as long as the bus lives.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// The description of the subscribed handler.
    #[must_use]
    pub fn info(&self) -> &HandlerInfo {
        &self.sub.info
    }

    /// Unsubscribes, then waits for the calls of the handler already in
    /// flight (except one in progress in the calling task or thread, which
    /// cannot end while it waits).
    ///
    /// ```
    /// use eventbus::prelude::*;
    /// use std::sync::Arc;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Tock;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bus = Bus::new();
    /// let subscription = bus.subscribe_async(|_: Arc<Tock>| async {});
    /// let _ = bus.publish(Tock); // spawns the call
    /// subscription.unsubscribe().await; // it has finished
    /// # }
    /// ```
    pub async fn unsubscribe(mut self) {
        self.detached = true;
        self.remove();
        let sub = Arc::clone(&self.sub);
        std::future::poll_fn(|cx| sub.gate.poll_idle(sub.own_calls(), cx.waker())).await;
    }

    /// Takes the handler off the bus and closes it to new calls.
    fn remove(&self) {
        if let Some(dispatcher) = self.dispatcher.upgrade() {
            dispatcher.runtime_subs.remove(self.slot, self.sub.id);
        }
        self.sub.gate.close();
    }
}

/// Whether this thread runs an async runtime, whose thread a blocking
/// wait would stall.
fn in_runtime() -> bool {
    #[cfg(feature = "tokio")]
    {
        tokio::runtime::Handle::try_current().is_ok()
    }
    #[cfg(not(feature = "tokio"))]
    {
        false
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        self.remove();
        // An async handler's calls are futures that this thread may be the
        // one to poll: waiting for them here could wait forever. For those,
        // as inside a runtime, drop only promises "never started again".
        if !self.sub.is_async() && !in_runtime() {
            self.sub.gate.wait_idle(self.sub.own_calls());
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("handler", &self.sub.info)
            .field("detached", &self.detached)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Adds a handler at run time; it stays subscribed until the returned
    /// [`Subscription`] is dropped.
    ///
    /// The closure may return `()` or `Result<(), E>`. Run-time handlers of
    /// an event run after its link-time handlers, in subscription order,
    /// and belong to this bus and its clones only. Failures and
    /// [`Bus::handlers`] name it by the closure's type; use
    /// [`subscribe_named`](Self::subscribe_named) to give it a name.
    #[track_caller]
    pub fn subscribe<E, F, R>(&self, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(&E) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        self.subscribe_sync(std::any::type_name::<F>(), handler)
    }

    /// [`subscribe`](Self::subscribe), with the name that failures and
    /// [`Bus::handlers`] show for the handler.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Signup;
    ///
    /// let bus = Bus::new();
    /// let welcome = bus.subscribe_named("welcome_mail", |_: &Signup| -> Result<(), String> {
    ///     Err("mail server down".into())
    /// });
    /// let report = bus.publish(Signup);
    /// assert_eq!(report.failures()[0].handler().unwrap().handler_name(), "welcome_mail");
    /// # drop(welcome);
    /// ```
    #[track_caller]
    pub fn subscribe_named<E, F, R>(&self, name: &'static str, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(&E) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        self.subscribe_sync(name, handler)
    }

    /// Adds an async handler at run time: the closure takes the event as
    /// an `Arc` and returns a future (`Send + 'static`) whose output is
    /// `()` or `Result<(), E>`.
    ///
    /// [`publish_async`](Self::publish_async) awaits it concurrently with
    /// the other async handlers; [`publish`](Self::publish) spawns it on
    /// the bus's runtime (counted in [`Report::scheduled`](crate::Report::scheduled),
    /// waited for by [`idle`](Self::idle)). It stays subscribed until the
    /// returned [`Subscription`] is dropped; a call already started then
    /// runs to its end, and [`Subscription::unsubscribe`] waits for it.
    ///
    /// ```
    /// use eventbus::prelude::*;
    /// use std::sync::Arc;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Uploaded {
    ///     bytes: u64,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bus = Bus::new();
    /// let scan = bus.subscribe_async(|upload: Arc<Uploaded>| async move {
    ///     if upload.bytes > 1 << 20 {
    ///         return Err("too large to scan");
    ///     }
    ///     Ok(())
    /// });
    /// let report = bus.publish_async(Uploaded { bytes: 4 << 20 }).await;
    /// assert_eq!(report.handled(), 1);
    /// assert_eq!(report.failures()[0].message(), "too large to scan");
    /// scan.unsubscribe().await;
    /// # }
    /// ```
    #[track_caller]
    pub fn subscribe_async<E, F, Fut>(&self, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(Arc<E>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        self.subscribe_future(std::any::type_name::<F>(), handler)
    }

    /// [`subscribe_async`](Self::subscribe_async), with the name that
    /// failures and [`Bus::handlers`] show for the handler.
    #[track_caller]
    pub fn subscribe_async_named<E, F, Fut>(&self, name: &'static str, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(Arc<E>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        self.subscribe_future(name, handler)
    }

    #[track_caller]
    fn subscribe_sync<E, F, R>(&self, name: &'static str, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(&E) -> R + Send + Sync + 'static,
        R: IntoHandlerResult,
    {
        let call =
            Box::new(
                move |event: &dyn Any, _: Option<&Context>| match event.downcast_ref::<E>() {
                    Some(event) => handler(event).into_handler_result(),
                    None => Err(wrong_type(E::NAME)),
                },
            );
        self.add_subscription::<E>(name, HandlerKind::Sync, SubCall::Sync(call))
    }

    #[track_caller]
    fn subscribe_future<E, F, Fut>(&self, name: &'static str, handler: F) -> Subscription
    where
        E: Event,
        F: Fn(Arc<E>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        let call = Box::new(
            move |event: Arc<dyn Any + Send + Sync>| -> HandlerFuture<'static> {
                match event.downcast::<E>() {
                    Ok(event) => {
                        let future = handler(event);
                        Box::pin(async move { future.await.into_handler_result() })
                    }
                    Err(_) => Box::pin(std::future::ready(Err(wrong_type(E::NAME)))),
                }
            },
        );
        self.add_subscription::<E>(name, HandlerKind::Async, SubCall::Async(call))
    }

    #[track_caller]
    fn add_subscription<E: Event>(
        &self,
        name: &'static str,
        kind: HandlerKind,
        call: SubCall,
    ) -> Subscription {
        let info = HandlerInfo::new(
            E::NAME,
            name,
            SourceLocation::caller(std::panic::Location::caller()),
            0,
            kind,
            Mode::Inline,
        );
        let slot = E::__meta().slot();
        Subscription::new(
            &self.dispatcher,
            slot,
            self.dispatcher.runtime_subs.add(slot, info, call, false),
        )
    }
}

fn wrong_type(event_name: &str) -> BoxError {
    format!(
        "a run-time handler of `{event_name}` was handed an event of another type; please report \
         this bug"
    )
    .into()
}
