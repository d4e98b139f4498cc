//! The link-time registry: every `#[derive(Event)]` type and every
//! `#[subscribe]` function submits itself here through `inventory`, and the
//! first bus built in the process resolves the lot once.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::any_event::{AnyEvent, DeadEvent};
use crate::call::{AsyncCall, CallArgs, ErasedCall, Filter, HandlerCall, TypedCall};
use crate::context::{Needs, StateNeed};
use crate::event::Event;
use crate::handler::{BoxError, HandlerInfo, HandlerKind, Mode, SourceLocation};
use crate::meta::EventMeta;

/// Which events a registered handler takes; what [`HandlerTarget`] says
/// of a handler's first parameter.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Target {
    /// One event type, named through its metadata.
    Event(fn() -> &'static EventMeta),
    /// Every event (`&AnyEvent`).
    Any,
    /// Events no handler took (`&DeadEvent`).
    Dead,
}

/// The wrapper of a `&AnyEvent` handler, before it is erased.
type AnyCall = fn(&AnyEvent<'_>, &CallArgs<'_>) -> Result<(), BoxError>;

/// The wrapper of a `&DeadEvent` handler, before it is erased.
type DeadCall = fn(&DeadEvent<'_>, &CallArgs<'_>) -> Result<(), BoxError>;

/// The type a `#[subscribe]` handler takes by reference: an event type,
/// [`AnyEvent`] or [`DeadEvent`].
///
/// The macro sees tokens, not types, so it cannot tell a catch-all from an
/// event type (`use eventbus::AnyEvent as Everything;` hides the name).
/// The generated code asks the compiler instead, through this trait, and
/// registers the handler the way [`HandlerTarget::TARGET`] says.
#[doc(hidden)]
pub trait HandlerTarget {
    /// Which events the handler takes.
    const TARGET: Target;

    /// Calls a handler's wrapper (a `fn(&Self, &CallArgs) -> ..` behind
    /// `call`) with the event seen as `Self`. A catch-all is registered as
    /// one plain [`ErasedCall`] that calls this.
    ///
    /// # Errors
    ///
    /// The handler's error; or, if `call` is not a wrapper for `Self`
    /// (never, in generated code), an error that says so.
    fn call_erased(
        call: &'static (dyn Any + Send + Sync),
        args: &CallArgs<'_>,
    ) -> Result<(), BoxError>;
}

impl<E: Event> HandlerTarget for E {
    const TARGET: Target = Target::Event(E::__meta);

    fn call_erased(
        call: &'static (dyn Any + Send + Sync),
        args: &CallArgs<'_>,
    ) -> Result<(), BoxError> {
        match (
            call.downcast_ref::<TypedCall<E>>(),
            args.event.downcast_ref::<E>(),
        ) {
            (Some(call), Some(event)) => call(event, args),
            _ => Err(unpaired_call(E::NAME)),
        }
    }
}

impl HandlerTarget for AnyEvent<'_> {
    const TARGET: Target = Target::Any;

    fn call_erased(
        call: &'static (dyn Any + Send + Sync),
        args: &CallArgs<'_>,
    ) -> Result<(), BoxError> {
        let call = call
            .downcast_ref::<AnyCall>()
            .ok_or_else(|| unpaired_call("AnyEvent"))?;
        call(&AnyEvent::new(args.event, args.meta), args)
    }
}

impl HandlerTarget for DeadEvent<'_> {
    const TARGET: Target = Target::Dead;

    fn call_erased(
        call: &'static (dyn Any + Send + Sync),
        args: &CallArgs<'_>,
    ) -> Result<(), BoxError> {
        let call = call
            .downcast_ref::<DeadCall>()
            .ok_or_else(|| unpaired_call("DeadEvent"))?;
        call(&DeadEvent::new(AnyEvent::new(args.event, args.meta)), args)
    }
}

fn unpaired_call(target: &str) -> BoxError {
    format!("a handler of `{target}` was registered with the wrapper of another type; please report this bug").into()
}

/// A registered event type; submitted by `#[derive(Event)]`.
#[doc(hidden)]
pub struct EventRegistration {
    meta: &'static EventMeta,
}

impl EventRegistration {
    #[must_use]
    pub const fn new(meta: &'static EventMeta) -> Self {
        Self { meta }
    }
}

/// Where and how a handler is written; the part of a registration that
/// does not depend on the event type.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct HandlerSite {
    pub handler_name: &'static str,
    pub module_path: &'static str,
    pub location: SourceLocation,
    pub priority: i32,
    pub mode: Mode,
    /// What each parameter after the event needs from the bus
    /// (`FromContext::declare`).
    pub needs: &'static [fn(&mut Needs)],
    /// `group = ".."`: the handler runs only on buses that select it.
    pub group: Option<&'static str>,
    /// `retry = N`: how many times a failed call is tried again.
    pub retry: u32,
    /// `timeout_ms = N`; 0 for none.
    pub timeout_ms: u64,
    /// `publishes = [..]`: the events the handler may publish.
    pub publishes: &'static [fn() -> &'static EventMeta],
    /// `replay`: the handler runs on replays and projections too.
    pub replay: bool,
}

/// A registered handler; submitted by `#[subscribe]`.
#[doc(hidden)]
pub struct HandlerRegistration {
    target: Target,
    site: HandlerSite,
    call: HandlerCall,
    /// A [`Filter<E>`] for the handler's event type `E`.
    filter: Option<&'static (dyn Any + Send + Sync)>,
}

// The constructors take the event type's metadata (or target) as an
// argument rather than through an `E: Event` bound: the generated code
// reads it through a trait of the user's crate, where a type that is no
// event fails once, with a message about handlers; a bound here would add
// a second error, pointing into this crate.
impl HandlerRegistration {
    /// A sync handler of one event type `E`, whose metadata is `meta`.
    #[must_use]
    pub const fn typed<E: 'static>(
        meta: fn() -> &'static EventMeta,
        site: HandlerSite,
        call: &'static TypedCall<E>,
        filter: Option<&'static Filter<E>>,
    ) -> Self {
        Self {
            target: Target::Event(meta),
            site,
            call: HandlerCall::Typed(call),
            filter: match filter {
                Some(filter) => Some(filter),
                None => None,
            },
        }
    }

    /// An `async fn` handler of the event type `E`, whose metadata is
    /// `meta`.
    #[must_use]
    pub const fn typed_async<E: 'static>(
        meta: fn() -> &'static EventMeta,
        site: HandlerSite,
        call: &'static AsyncCall<E>,
        filter: Option<&'static Filter<E>>,
    ) -> Self {
        Self {
            target: Target::Event(meta),
            site,
            call: HandlerCall::Async(call),
            filter: match filter {
                Some(filter) => Some(filter),
                None => None,
            },
        }
    }

    /// A sync, inline handler without a filter, of whatever `target` its
    /// first parameter names ([`HandlerTarget::TARGET`]): `call` is its
    /// wrapper, `erased` the same wrapper for a catch-all.
    #[must_use]
    pub const fn sync<T: ?Sized + 'static>(
        target: Target,
        site: HandlerSite,
        call: &'static TypedCall<T>,
        erased: ErasedCall,
    ) -> Self {
        Self {
            target,
            site,
            call: match target {
                Target::Event(_) => HandlerCall::Typed(call),
                Target::Any | Target::Dead => HandlerCall::Erased(erased),
            },
            filter: None,
        }
    }
}

inventory::collect!(EventRegistration);
inventory::collect!(HandlerRegistration);

/// A handler's target once the registry is resolved.
#[derive(Clone, Copy)]
pub(crate) enum Resolved {
    Event(&'static EventMeta),
    Any,
    Dead,
}

/// Every handler linked into the program, in dispatch order, whichever
/// bus runs it: what a transport reads to declare its topology (a broker
/// queue per [`group`](HandlerInfo::group)) before any bus exists, or in a
/// process whose bus leaves those groups to other processes.
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// #[event(name = "doc.invoice_sent")]
/// struct InvoiceSent;
///
/// #[subscribe(group = "doc_billing")]
/// fn file_invoice(_: &InvoiceSent) {}
///
/// let billing: Vec<_> = eventbus::linked_handlers()
///     .into_iter()
///     .filter(|handler| handler.group() == Some("doc_billing"))
///     .map(|handler| handler.event_name())
///     .collect();
/// assert_eq!(billing, ["doc.invoice_sent"]);
/// ```
#[must_use]
pub fn linked_handlers() -> Vec<HandlerInfo> {
    Registry::get()
        .handlers
        .iter()
        .map(|handler| handler.info.clone())
        .collect()
}

/// One registered handler, resolved.
#[derive(Clone)]
pub(crate) struct RegisteredHandler {
    pub(crate) target: Resolved,
    pub(crate) info: HandlerInfo,
    pub(crate) call: HandlerCall,
    /// Whether a parameter reads the delivery's context.
    pub(crate) context: bool,
    /// The states its parameters read.
    pub(crate) state_needs: Vec<StateNeed>,
    pub(crate) filter: Option<&'static (dyn Any + Send + Sync)>,
}

/// Two event types that claim one name.
#[derive(Clone, Copy)]
pub(crate) struct NameClash {
    pub(crate) name: &'static str,
    pub(crate) first: &'static str,
    pub(crate) second: &'static str,
}

/// Everything the linker kept, in a fixed order.
pub(crate) struct Registry {
    /// Every known event type, sorted by name then Rust path.
    pub(crate) events: Vec<&'static EventMeta>,
    /// Non-local events by name (the first of each clashing pair).
    pub(crate) by_name: HashMap<&'static str, &'static EventMeta>,
    /// The first name clash, if any; building a bus fails on it.
    pub(crate) clash: Option<NameClash>,
    /// Every handler, in dispatch order.
    pub(crate) handlers: Vec<RegisteredHandler>,
}

impl Registry {
    /// The process-wide registry, resolved on first use.
    pub(crate) fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::resolve)
    }

    fn resolve() -> Self {
        let mut events: Vec<&'static EventMeta> = Vec::new();
        // Each type's metadata is one `static`: its address identifies it.
        let mut seen: HashSet<*const EventMeta> = HashSet::new();
        let mut note = |meta: &'static EventMeta| {
            if seen.insert(std::ptr::from_ref(meta)) {
                events.push(meta);
            }
        };
        for registration in inventory::iter::<EventRegistration> {
            note(registration.meta);
        }

        let mut keyed = Vec::new();
        for registration in inventory::iter::<HandlerRegistration> {
            let target = match registration.target {
                Target::Event(meta) => {
                    let meta = meta();
                    // A type whose own registration the linker dropped is
                    // still known through its handlers.
                    note(meta);
                    Resolved::Event(meta)
                }
                Target::Any => Resolved::Any,
                Target::Dead => Resolved::Dead,
            };
            let event_name = match target {
                Resolved::Event(meta) => meta.name(),
                Resolved::Any => "AnyEvent",
                Resolved::Dead => "DeadEvent",
            };
            let site = &registration.site;
            let kind = match registration.call {
                HandlerCall::Async(_) => HandlerKind::Async,
                HandlerCall::Typed(_) | HandlerCall::Erased(_) => HandlerKind::Sync,
            };
            let info = HandlerInfo::new(
                event_name,
                site.handler_name,
                site.location,
                site.priority,
                kind,
                site.mode,
            )
            .with_options(site.group, site.retry, site.timeout_ms, site.publishes)
            .with_replay(site.replay);
            let mut needs = Needs::default();
            for declare in site.needs {
                declare(&mut needs);
            }
            keyed.push((
                site,
                RegisteredHandler {
                    target,
                    info,
                    call: registration.call,
                    context: needs.reads_context(),
                    state_needs: needs.into_states(),
                    filter: registration.filter,
                },
            ));
        }
        let handlers = in_dispatch_order(keyed);

        events.sort_by(|a, b| {
            a.name()
                .cmp(b.name())
                .then_with(|| a.type_path().cmp(b.type_path()))
        });
        let mut by_name = HashMap::new();
        let mut clash = None;
        for meta in &events {
            // Give every known type its table slot now, in a fixed order.
            meta.slot();
            if meta.is_local() {
                continue;
            }
            if let Some(first) = by_name.insert(meta.name(), *meta) {
                by_name.insert(meta.name(), first);
                clash.get_or_insert(NameClash {
                    name: meta.name(),
                    first: first.type_path(),
                    second: meta.type_path(),
                });
            }
        }

        Self {
            events,
            by_name,
            clash,
            handlers,
        }
    }

    /// Registered names close to `name`, closest first, for "did you mean".
    /// Compares without case, and also with each type's Rust name, so
    /// `OrderPlaced` finds `shop.order_placed`.
    pub(crate) fn similar_names(&self, name: &str) -> Vec<&'static str> {
        let wanted = comparable(name);
        let mut scored: Vec<(f64, &'static str)> = self
            .by_name
            .iter()
            .map(|(known, meta)| {
                let type_name = meta.type_path().rsplit("::").next().unwrap_or_default();
                let score = strsim::jaro_winkler(&wanted, &comparable(known))
                    .max(strsim::jaro_winkler(&wanted, &comparable(type_name)));
                (score, *known)
            })
            .filter(|(score, _)| *score > 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored.into_iter().take(3).map(|(_, known)| known).collect()
    }
}

/// A name reduced to what tells names apart: lowercase letters and digits.
/// The handlers in dispatch order. `inventory::iter` has no set order: this
/// is a total one that does not change between builds. Sorting positions
/// rather than the handlers themselves moves 8 bytes per step instead of a
/// few hundred, which counts with thousands of handlers.
fn in_dispatch_order(keyed: Vec<(&HandlerSite, RegisteredHandler)>) -> Vec<RegisteredHandler> {
    let mut order: Vec<usize> = (0..keyed.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (keyed[a].0, keyed[b].0);
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.module_path.cmp(b.module_path))
            .then_with(|| a.location.line().cmp(&b.location.line()))
            .then_with(|| a.location.column().cmp(&b.location.column()))
            .then_with(|| a.handler_name.cmp(b.handler_name))
            .then_with(|| a.location.file().cmp(b.location.file()))
    });
    let mut unsorted: Vec<Option<RegisteredHandler>> = keyed
        .into_iter()
        .map(|(_, handler)| Some(handler))
        .collect();
    order
        .into_iter()
        .filter_map(|at| unsorted[at].take())
        .collect()
}

fn comparable(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
