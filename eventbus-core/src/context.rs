//! What a handler may take besides its event: [`Context`], [`State`] and
//! [`Extension`], through one trait, [`FromContext`].

use std::any::{Any, TypeId};
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::envelope::{Envelope, Lineage};
use crate::extensions::Extensions;
use crate::handler::BoxError;
use crate::meta::EventMeta;

/// The delivery a handler is part of: the event's [`Envelope`], the bus,
/// and a way to publish follow-up events.
///
/// A handler takes it as a parameter after the event:
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct PaymentCharged {
///     order: u32,
/// }
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct ReceiptSent {
///     order: u32,
/// }
///
/// #[subscribe]
/// fn send_receipt(payment: &PaymentCharged, ctx: &Context) {
///     println!("receipt for event {}", ctx.envelope().id);
///     ctx.publish(ReceiptSent { order: payment.order });
/// }
/// ```
pub struct Context {
    envelope: Envelope,
    /// A counted handle on the bus delivering the event.
    handle: BusHandle,
    /// The `Bus` that [`Context::bus`] hands out, made on first ask.
    bus: OnceLock<Box<dyn Any + Send + Sync>>,
    depth: u32,
    /// What the deliverer handed to this delivery.
    extensions: Option<Arc<Extensions>>,
    follow_ups: Mutex<Vec<FollowUp>>,
}

impl Context {
    pub(crate) fn new(
        envelope: Envelope,
        handle: BusHandle,
        depth: u32,
        extensions: Option<Arc<Extensions>>,
    ) -> Self {
        Self {
            envelope,
            handle,
            bus: OnceLock::new(),
            depth,
            extensions,
            follow_ups: Mutex::new(Vec::new()),
        }
    }

    /// A context for another handler of the same delivery, with its own
    /// follow-ups.
    pub(crate) fn fork(&self) -> Self {
        Self::new(
            self.envelope.clone(),
            self.handle.clone(),
            self.depth,
            self.extensions.clone(),
        )
    }

    /// The value of type `T` the deliverer handed to this delivery (see
    /// [`Extensions`]), if any.
    #[must_use]
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.as_deref()?.get::<T>()
    }

    /// What the deliverer handed to this delivery, for its follow-ups.
    pub(crate) fn extensions(&self) -> Option<&Arc<Extensions>> {
        self.extensions.as_ref()
    }

    /// The identity, order and lineage of the event being handled.
    #[must_use]
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The bus delivering the event, and where [`Context::bus`] keeps the
    /// `Bus` it hands out.
    pub(crate) fn bus_parts(&self) -> (&BusHandle, &OnceLock<Box<dyn Any + Send + Sync>>) {
        (&self.handle, &self.bus)
    }

    /// How many events up the chain this one is: 0 for an event published
    /// from outside any handler.
    #[must_use]
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The state of type `T` given to
    /// [`BusBuilder::state`](crate::BusBuilder::state), if any.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        self.states().get::<T>()
    }

    fn states(&self) -> &States {
        self.handle.states()
    }

    /// Queues a follow-up, for [`Context::publish`].
    pub(crate) fn push_follow_up(&self, follow_up: FollowUp) {
        self.follow_ups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(follow_up);
    }

    /// How many follow-ups are queued, to discard those of a failed
    /// attempt afterwards.
    pub(crate) fn follow_up_mark(&self) -> usize {
        self.follow_ups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Drops the follow-ups queued after `mark`: a failed attempt's.
    pub(crate) fn discard_follow_ups_after(&self, mark: usize) {
        self.follow_ups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .truncate(mark);
    }

    pub(crate) fn take_follow_ups(&self) -> Vec<FollowUp> {
        std::mem::take(
            &mut *self
                .follow_ups
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

// As for `Bus`: a panic leaves the context usable. Its bus and states are
// shared and unchanged by handlers, and its follow-up list ignores
// poisoning.
impl std::panic::UnwindSafe for Context {}
impl std::panic::RefUnwindSafe for Context {}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("envelope", &self.envelope)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// A counted handle on a bus, as a `Bus` value is (its queue stays open
/// while one lives), held by a context without naming the bus, which is
/// built on this module.
pub(crate) struct BusHandle {
    target: Arc<dyn HandleTarget>,
}

/// What a [`BusHandle`] is on: the bus's dispatcher, which counts its
/// handles.
pub(crate) trait HandleTarget: Any + Send + Sync {
    /// Counts a new handle.
    fn acquire(&self);
    /// Counts a dropped handle.
    fn release(&self);
    /// The states given to the bus.
    fn states(&self) -> &States;
}

impl BusHandle {
    pub(crate) fn new(target: Arc<dyn HandleTarget>) -> Self {
        target.acquire();
        Self { target }
    }

    /// What the handle is on, for the layer that knows its type.
    pub(crate) fn target(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::clone(&self.target) as Arc<dyn Any + Send + Sync>
    }

    fn states(&self) -> &States {
        self.target.states()
    }
}

impl Clone for BusHandle {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.target))
    }
}

impl Drop for BusHandle {
    fn drop(&mut self) {
        self.target.release();
    }
}

/// Where an event sits in its chain, and what its deliverer gave it.
pub(crate) struct Parent {
    /// `None` for a root event.
    pub(crate) lineage: Option<Lineage>,
    pub(crate) depth: u32,
    /// A root event from outside: its envelope and the handlers it is for.
    pub(crate) given: Option<Box<Given>>,
    pub(crate) extensions: Option<Arc<Extensions>>,
    /// The journal stream a root event was published to; `None` for its
    /// name's.
    pub(crate) stream: Option<Arc<str>>,
}

impl Parent {
    pub(crate) fn root(depth: u32) -> Self {
        Self {
            lineage: None,
            depth,
            given: None,
            extensions: None,
            stream: None,
        }
    }
}

/// A delivered record's envelope, kept as it came (but for the sequence,
/// which is the delivering bus's own), and which handlers run it.
pub(crate) struct Given {
    pub(crate) envelope: Envelope,
    pub(crate) only: Option<Only>,
    /// Its record went to the sinks when it was accepted (`emit`).
    pub(crate) sent: bool,
    /// It is in the journal already (a relay delivers it).
    pub(crate) journaled: bool,
}

/// A part of a bus's handlers that one delivery runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Only {
    /// The handlers of one group.
    Group(&'static str),
    /// One handler, by its full path.
    Handler(&'static str),
    /// The handlers that run on replays (`#[subscribe(replay)]`): for a
    /// record read back from the log.
    Replay,
}

/// An event published with [`Context::publish`], waiting for its turn;
/// its type is known again through its metadata.
pub(crate) struct FollowUp {
    event: Box<dyn Any + Send>,
    meta: &'static EventMeta,
    lineage: Lineage,
    depth: u32,
    extensions: Option<Arc<Extensions>>,
}

impl FollowUp {
    pub(crate) fn new(
        event: Box<dyn Any + Send>,
        meta: &'static EventMeta,
        lineage: Lineage,
        depth: u32,
        extensions: Option<Arc<Extensions>>,
    ) -> Self {
        Self {
            event,
            meta,
            lineage,
            depth,
            extensions,
        }
    }

    pub(crate) fn meta(&self) -> &'static EventMeta {
        self.meta
    }

    pub(crate) fn event(&self) -> &dyn Any {
        &*self.event
    }

    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }

    pub(crate) fn parent(&self) -> Parent {
        Parent {
            lineage: Some(self.lineage),
            depth: self.depth,
            given: None,
            extensions: self.extensions.clone(),
            stream: None,
        }
    }

    pub(crate) fn into_event(self) -> Box<dyn Any + Send> {
        self.event
    }
}

/// A value given to [`BusBuilder::state`](crate::BusBuilder::state), handed
/// to every handler that takes `State<T>`: a database pool, a mailer, a
/// configuration.
///
/// It derefs to `T` and is cheap to clone (an `Arc` inside). A handler
/// whose state was not given makes `build()` fail, naming the handler and
/// the type.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct UserSignedUp {
///     email: String,
/// }
///
/// struct Mailer {
///     from: &'static str,
/// }
///
/// #[subscribe]
/// fn welcome(user: &UserSignedUp, mailer: State<Mailer>) {
///     println!("{} -> {}: welcome!", mailer.from, user.email);
/// }
///
/// let bus = Bus::builder().state(Mailer { from: "hello@example.com" }).build().unwrap();
/// assert_eq!(bus.publish(UserSignedUp { email: "ada@example.com".into() }).handled(), 1);
/// ```
pub struct State<T: ?Sized>(Arc<T>);

impl<T: ?Sized> State<T> {
    /// The shared value.
    #[must_use]
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// The values given with `BusBuilder::state`, by type.
#[doc(hidden)]
#[derive(Default)]
pub struct States {
    entries: Vec<(TypeId, &'static str, Arc<dyn Any + Send + Sync>)>,
}

impl States {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        self.entries.retain(|(known, _, _)| *known != id);
        self.entries
            .push((id, std::any::type_name::<T>(), Arc::new(value)));
    }

    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.entries.iter().any(|(known, _, _)| *known == id)
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        let id = TypeId::of::<T>();
        let (_, _, value) = self.entries.iter().find(|(known, _, _)| *known == id)?;
        Arc::clone(value).downcast::<T>().ok().map(State)
    }

    pub(crate) fn type_names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(_, name, _)| *name).collect()
    }
}

/// What the handlers' parameters need from a bus, settled when the bus is
/// built: whether a [`Context`] must be made for each event they take (for
/// every parameter but `State<T>`), and which states must have been given
/// to the builder ([`FromContext::needs`]).
#[derive(Debug, Default)]
pub struct Needs {
    context: bool,
    states: Vec<StateNeed>,
}

/// A state a handler parameter needs: its type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateNeed {
    pub(crate) type_id: TypeId,
    pub(crate) type_name: &'static str,
}

impl Needs {
    /// The parameter reads the delivery's [`Context`]: the bus builds one,
    /// with a fresh id, timestamp and sequence number, for every event of
    /// the handler's type.
    fn context(&mut self) {
        self.context = true;
    }

    /// The parameter reads the state of type `T`; building a bus that was
    /// not given one fails, naming the handler and the type.
    pub fn state<T: Send + Sync + 'static>(&mut self) {
        self.states.push(StateNeed {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        });
    }

    pub(crate) fn reads_context(&self) -> bool {
        self.context
    }

    pub(crate) fn into_states(self) -> Vec<StateNeed> {
        self.states
    }
}

/// What a handler's parameters are made from: the delivery's context,
/// when the bus built one, and the bus's states.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    context: Option<&'a Context>,
    states: &'a States,
}

impl<'a> Parts<'a> {
    #[must_use]
    pub fn new(context: Option<&'a Context>, states: &'a States) -> Self {
        Self { context, states }
    }

    /// The context, which the bus builds for every handler whose
    /// parameters declare [`Needs::context`].
    ///
    /// # Errors
    ///
    /// Only if the bus built none for a parameter that reads it, which it
    /// always does; kept as an error rather than a panic.
    pub fn context(&self) -> Result<&'a Context, BoxError> {
        self.context.ok_or_else(|| {
            "the bus built no context for a handler parameter that reads it; please report this bug"
                .into()
        })
    }
}

/// A handler parameter after the event, resolved for each call.
/// Implemented by `&Context` and `State<T>`, and by your own extractors,
/// which are made from the delivery's [`Context`].
///
/// An extractor reads the [`Context`], so the bus builds one for every
/// event of a handler that takes it; [`FromContext::needs`] declares the
/// states it reads, which `build()` then checks.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::{BoxError, FromContext, Needs};
///
/// struct Config {
///     shop: &'static str,
/// }
///
/// /// The shop's name, from the `Config` state.
/// struct Shop(&'static str);
///
/// impl FromContext<'_> for Shop {
///     fn from_context(ctx: &Context) -> Result<Self, BoxError> {
///         let config = ctx.state::<Config>().ok_or("no Config")?;
///         Ok(Shop(config.shop))
///     }
///
///     fn needs(needs: &mut Needs) {
///         needs.state::<Config>();
///     }
/// }
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Sold;
///
/// #[subscribe]
/// fn log_sale(_: &Sold, shop: Shop) {
///     println!("sold at {}", shop.0);
/// }
///
/// // The state is checked when the bus is built, not when it publishes.
/// assert!(Bus::builder().build().is_err());
/// let bus = Bus::builder().state(Config { shop: "corner" }).build().unwrap();
/// assert_eq!(bus.publish(Sold).handled(), 1);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler parameter",
    label = "not something the bus can hand to a handler",
    note = "after the event, a handler may take `&Context`, `State<T>` (a value given to `BusBuilder::state`) or `Extension<T>` (a value handed to one delivery)"
)]
pub trait FromContext<'a>: Sized {
    /// Extracts the parameter.
    ///
    /// # Errors
    ///
    /// When the value is not there; the call then fails with this error.
    fn from_context(ctx: &'a Context) -> Result<Self, BoxError>;

    /// Declares the states the parameter reads, checked when the bus is
    /// built; none by default.
    fn needs(needs: &mut Needs) {
        let _ = needs;
    }

    /// Everything the parameter needs: the context, and what
    /// [`FromContext::needs`] declares.
    #[doc(hidden)]
    fn declare(needs: &mut Needs) {
        needs.context();
        Self::needs(needs);
    }

    /// Extracts the parameter from what the bus hands the handler.
    ///
    /// # Errors
    ///
    /// As [`FromContext::from_context`].
    #[doc(hidden)]
    fn from_parts(parts: Parts<'a>) -> Result<Self, BoxError> {
        Self::from_context(parts.context()?)
    }
}

impl<'a> FromContext<'a> for &'a Context {
    fn from_context(ctx: &'a Context) -> Result<Self, BoxError> {
        Ok(ctx)
    }
}

impl<T: Send + Sync + 'static> FromContext<'_> for State<T> {
    fn from_context(ctx: &Context) -> Result<Self, BoxError> {
        state_of(ctx.states())
    }

    fn needs(needs: &mut Needs) {
        needs.state::<T>();
    }

    // A state needs no context: a handler that takes only states stays
    // on the fast path.
    fn declare(needs: &mut Needs) {
        Self::needs(needs);
    }

    fn from_parts(parts: Parts<'_>) -> Result<Self, BoxError> {
        state_of(parts.states)
    }
}

fn state_of<T: Send + Sync + 'static>(states: &States) -> Result<State<T>, BoxError> {
    states.get::<T>().ok_or_else(|| {
        format!(
            "no state of type `{}` was given to this bus; add `.state(..)` to its builder",
            std::any::type_name::<T>()
        )
        .into()
    })
}

/// A value the deliverer handed to this delivery (see [`Extensions`]),
/// cloned for the handler that takes it. A delivery without one fails the
/// call with an error naming the type.
///
/// ```
/// use eventbus::prelude::*;
/// use eventbus::{Envelope, EventRecord, Extension};
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.invoice_paid")]
/// struct InvoicePaid {
///     invoice: u32,
/// }
///
/// #[derive(Clone)]
/// struct Tenant(&'static str);
///
/// #[subscribe]
/// fn book(paid: &InvoicePaid, tenant: Extension<Tenant>) {
///     println!("{}: invoice {} paid", tenant.0 .0, paid.invoice);
/// }
///
/// let bus = Bus::new();
/// let record = EventRecord::from_event(&InvoicePaid { invoice: 7 }, Envelope::generate()).unwrap();
/// let report = bus.inbound(record).extension(Tenant("acme")).deliver().unwrap();
/// assert!(report.is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct Extension<T>(pub T);

impl<T> Deref for Extension<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone + Send + Sync + 'static> FromContext<'_> for Extension<T> {
    fn from_context(ctx: &Context) -> Result<Self, BoxError> {
        ctx.extension::<T>().cloned().map(Extension).ok_or_else(|| {
            format!(
                "no extension of type `{}` was handed to this delivery; hand one with \
                 `bus.inbound(record).extension(..)`, or take `&Context` and read \
                 `ctx.extension::<T>()`, which may be `None`",
                std::any::type_name::<T>()
            )
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{RefUnwindSafe, UnwindSafe};

    use super::Context;

    fn unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

    #[test]
    fn a_context_can_be_used_inside_catch_unwind() {
        unwind_safe::<Context>();
        unwind_safe::<&Context>();
    }
}
