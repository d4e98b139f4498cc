//! The handlers of one event type as a bus runs them: resolved at build
//! time to slices of plain function pointers, so a publish is a loop of
//! direct calls with no lookup and no allocation.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::call::{AsyncCall, CallArgs, ErasedCall, Filter, HandlerCall, HandlerFuture, TypedCall};
use crate::context::States;
use crate::handler::{BoxError, HandlerInfo, Mode};
use crate::invoke::{has_policy, Guarded, Stack};
use crate::report::{take_panic, FailureSink, HandlerFailure};

/// A route of any event type, as a bus stores it.
pub(crate) type AnyRoute = Box<dyn Any + Send + Sync>;

/// One handler of a route being built.
pub(crate) struct RouteEntry {
    pub(crate) call: HandlerCall,
    pub(crate) info: HandlerInfo,
    /// False for catch-all handlers, which `Report::handled` leaves out.
    pub(crate) counted: bool,
    /// Whether a parameter of the handler reads the context.
    pub(crate) context: bool,
    /// A [`Filter<E>`] for the handler's event type.
    pub(crate) filter: Option<&'static (dyn Any + Send + Sync)>,
}

enum Call<E> {
    Typed(TypedCall<E>),
    /// A handler with `filter = ..`: called only when the filter says so.
    Filtered(TypedCall<E>, Filter<E>),
    Erased(ErasedCall),
}

/// A handler that does not run inline on the publishing thread: async,
/// background or blocking.
pub(crate) struct Deferred<E> {
    pub(crate) info: HandlerInfo,
    pub(crate) call: DeferredCall<E>,
    pub(crate) filter: Option<Filter<E>>,
}

pub(crate) enum DeferredCall<E> {
    Async(AsyncCall<E>),
    Sync(TypedCall<E>),
}

// By hand: a derive would ask `E: Copy`, and a pair of fn pointers is Copy
// whatever `E` is.
impl<E> Clone for DeferredCall<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for DeferredCall<E> {}

impl<E> Deferred<E> {
    pub(crate) fn mode(&self) -> Mode {
        self.info.mode()
    }
}

/// The handlers of the event type `E`, in dispatch order.
pub(crate) struct TypedRoute<E> {
    calls: Box<[Call<E>]>,
    /// Read only when a call fails.
    infos: Box<[HandlerInfo]>,
    /// How many of `calls` are the event's own handlers.
    counted: usize,
    pub(crate) deferred: Box<[Deferred<E>]>,
    /// Whether any handler reads the context, so the bus must build one.
    pub(crate) needs_context: bool,
    /// Set at build: every handler runs inline, unfiltered, without a
    /// context.
    plain: bool,
    /// Set at build: like `plain`, except that some handlers are async
    /// ones awaited by `publish_async`, with no filter, retry or timeout.
    async_plain: bool,
}

/// Where and why [`TypedRoute::run_until_failure`] stopped.
pub(crate) struct Stopped {
    at: usize,
    cause: StopCause,
}

enum StopCause {
    Error(BoxError),
    Panic(Box<dyn Any + Send>),
}

/// The route of one event type that every bus keeping all link-time
/// handlers uses (no `filter_handlers`, no `groups`): built once per
/// process by the first such bus, then read by `publish` with no lookup.
/// One `static` per event type, written by `#[derive(Event)]`.
#[doc(hidden)]
pub struct SharedRoute<E>(OnceLock<TypedRoute<E>>);

impl<E> SharedRoute<E> {
    /// An empty route, filled when the first bus is built.
    #[must_use]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }
}

impl<E> Default for SharedRoute<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> SharedRoute<E> {
    /// The route, once a bus that shares routes has been built.
    #[inline]
    pub(crate) fn get(&self) -> Option<&TypedRoute<E>> {
        self.0.get()
    }

    /// Builds the route with `build` unless it is built.
    pub(crate) fn fill(&self, build: impl FnOnce() -> TypedRoute<E>) {
        if self.0.get().is_none() {
            let _ = self.0.set(build());
        }
    }
}

/// The route of `E` from its handlers in dispatch order.
pub(crate) fn build_typed<E: 'static>(entries: Vec<RouteEntry>) -> TypedRoute<E> {
    const PAIRED: &str = "HandlerRegistration pairs each call with its event type";
    let needs_context = entries.iter().any(|entry| entry.context);
    let mut calls = Vec::new();
    let mut infos = Vec::new();
    let mut deferred = Vec::new();
    let mut counted = 0;
    let mut filtered = false;
    for entry in entries {
        let (call, info) = (entry.call, entry.info);
        let filter = entry
            .filter
            .map(|filter| *filter.downcast_ref::<Filter<E>>().expect(PAIRED));
        match call {
            HandlerCall::Typed(call) => {
                let call = *call.downcast_ref::<TypedCall<E>>().expect(PAIRED);
                if info.mode() == Mode::Inline {
                    filtered |= filter.is_some() || has_policy(&info);
                    calls.push(match filter {
                        Some(filter) => Call::Filtered(call, filter),
                        None => Call::Typed(call),
                    });
                    infos.push(info);
                    counted += usize::from(entry.counted);
                } else {
                    deferred.push(Deferred {
                        info,
                        call: DeferredCall::Sync(call),
                        filter,
                    });
                }
            }
            HandlerCall::Async(call) => deferred.push(Deferred {
                info,
                call: DeferredCall::Async(*call.downcast_ref::<AsyncCall<E>>().expect(PAIRED)),
                filter,
            }),
            HandlerCall::Erased(call) => {
                calls.push(Call::Erased(call));
                infos.push(info);
                counted += usize::from(entry.counted);
            }
        }
    }
    let plain = !needs_context && !filtered && deferred.is_empty();
    let async_plain = !needs_context
        && !filtered
        && deferred.iter().all(|deferred| {
            matches!(deferred.call, DeferredCall::Async(_))
                && deferred.mode() == Mode::Inline
                && deferred.filter.is_none()
                && !has_policy(&deferred.info)
        });
    TypedRoute {
        plain,
        async_plain,
        calls: calls.into_boxed_slice(),
        infos: infos.into_boxed_slice(),
        counted,
        deferred: deferred.into_boxed_slice(),
        needs_context,
    }
}

impl<E: 'static> TypedRoute<E> {
    /// Whether every handler runs inline, unfiltered, without a context:
    /// the case `publish` keeps fast.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.plain
    }

    /// The calls of the async handlers of an async-plain route, each
    /// polled with the cascade depth set and its panics caught.
    pub(crate) fn async_calls<'a>(
        &self,
        event: &'a E,
        states: &'a States,
        catch: bool,
    ) -> Vec<Guarded<HandlerFuture<'a>>> {
        let mut calls = Vec::with_capacity(self.deferred.len());
        for deferred in &*self.deferred {
            if let DeferredCall::Async(call) = deferred.call {
                // Polled inside the join's one depth scope.
                calls.push(Guarded {
                    inner: call(event, None, states),
                    depth: None,
                    catch,
                });
            }
        }
        calls
    }

    /// Whether the route has handlers that run inline.
    #[inline]
    pub(crate) fn has_inline(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Whether `publish_async` can run this route without a context or a
    /// layer: sync handlers inline, async ones awaited and nothing else.
    pub(crate) fn is_async_plain(&self) -> bool {
        self.async_plain
    }

    /// Runs the inline handlers of a plain route with no layers; returns
    /// how many of them are the event's own.
    #[inline]
    pub(crate) fn run_inline(
        &self,
        event: &E,
        args: &CallArgs<'_>,
        catch: bool,
        sink: &mut FailureSink<'_>,
    ) -> usize {
        run_all(&self.infos, 0, catch, sink, |at| self.call(at, event, args));
        self.counted
    }

    /// Runs the inline handlers of a plain route with no layers until one
    /// fails; [`TypedRoute::resume`] records that failure and runs the rest.
    ///
    /// This is all a `publish` to plain handlers does besides the lookup,
    /// so it carries nothing a successful call does not need.
    #[inline]
    pub(crate) fn run_until_failure(
        &self,
        event: &E,
        args: &CallArgs<'_>,
        catch: bool,
    ) -> Result<usize, Box<Stopped>> {
        let mut at = 0;
        let mut run = || {
            while at < self.calls.len() {
                self.call(at, event, args)?;
                at += 1;
            }
            Ok(())
        };
        let outcome = if catch {
            // By reference: moving the closure in would copy its captures.
            catch_unwind(AssertUnwindSafe(&mut run))
        } else {
            Ok(run())
        };
        match outcome {
            Ok(Ok(())) => Ok(self.counted),
            // Boxed: the result then fits in two registers.
            Ok(Err(error)) => Err(Box::new(Stopped {
                at,
                cause: StopCause::Error(error),
            })),
            Err(payload) => Err(Box::new(Stopped {
                at,
                cause: StopCause::Panic(payload),
            })),
        }
    }

    /// Records the failure that stopped [`TypedRoute::run_until_failure`]
    /// and runs the handlers after it; returns how many of the event's own
    /// handlers ran.
    pub(crate) fn resume(
        &self,
        stopped: Stopped,
        event: &E,
        args: &CallArgs<'_>,
        catch: bool,
        sink: &mut FailureSink<'_>,
    ) -> usize {
        let info = &self.infos[stopped.at];
        sink.push(match stopped.cause {
            StopCause::Error(error) => HandlerFailure::from_error(info, sink.event(), error),
            StopCause::Panic(payload) => {
                HandlerFailure::from_panic(info, sink.event(), take_panic(payload))
            }
        });
        run_all(&self.infos, stopped.at + 1, catch, sink, |at| {
            self.call(at, event, args)
        });
        self.counted
    }

    #[inline]
    fn call(&self, at: usize, event: &E, args: &CallArgs<'_>) -> Result<(), BoxError> {
        match &self.calls[at] {
            Call::Typed(call) | Call::Filtered(call, _) => call(event, args),
            Call::Erased(call) => call(args),
        }
    }

    /// Runs the inline handlers one by one through the layers, checking
    /// filters; returns how many of the event's own handlers ran.
    pub(crate) fn run_layered(
        &self,
        event: &E,
        args: &CallArgs<'_>,
        stack: Stack<'_>,
        sink: &mut FailureSink<'_>,
    ) -> usize {
        let mut ran = self.counted;
        for (call, info) in self.calls.iter().zip(&*self.infos) {
            let handler = match call {
                Call::Filtered(call, filter) => {
                    if !filter(event) {
                        // Skipped: neither handled nor failed.
                        ran -= 1;
                        continue;
                    }
                    Handler::Typed(*call)
                }
                Call::Typed(call) => Handler::Typed(*call),
                Call::Erased(call) => Handler::Erased(*call),
            };
            let run = || match handler {
                Handler::Typed(call) => call(event, args),
                Handler::Erased(call) => call(args),
            };
            if let Some(failure) = stack.call_sync(info, sink.event(), args.context, &run) {
                sink.push(failure);
            }
        }
        ran
    }
}

enum Handler<E> {
    Typed(TypedCall<E>),
    Erased(ErasedCall),
}

// By hand, as for `DeferredCall`: fn pointers are Copy whatever `E` is.
impl<E> Clone for Handler<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Handler<E> {}

/// Handlers that see events without their type: the catch-alls of event
/// types no bus has a route for, and the `&DeadEvent` handlers.
#[derive(Default)]
pub(crate) struct ErasedRoute {
    calls: Box<[ErasedCall]>,
    infos: Box<[HandlerInfo]>,
    /// Whether a handler has its own retry.
    policies: bool,
}

impl ErasedRoute {
    pub(crate) fn new(entries: Vec<(ErasedCall, HandlerInfo)>) -> Self {
        let (calls, infos) = entries.into_iter().unzip::<_, _, Vec<_>, Vec<_>>();
        Self {
            policies: infos.iter().any(has_policy),
            calls: calls.into_boxed_slice(),
            infos: infos.into_boxed_slice(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub(crate) fn run(&self, args: &CallArgs<'_>, stack: Stack<'_>, sink: &mut FailureSink<'_>) {
        if stack.layers.is_empty() && !self.policies {
            run_all(&self.infos, 0, stack.catch, sink, |at| {
                (self.calls[at])(args)
            });
            return;
        }
        for (call, info) in self.calls.iter().zip(&*self.infos) {
            if let Some(failure) = stack.call_sync(info, sink.event(), args.context, &|| call(args))
            {
                sink.push(failure);
            }
        }
    }
}

/// Calls `call(from..infos.len())` in order, recording each error and panic
/// as a failure of the matching handler and going on with the next.
///
/// One `catch_unwind` covers the whole loop rather than each call: after a
/// panic the loop is entered again after the handler that panicked, so the
/// path without panics is a plain loop.
#[inline]
fn run_all(
    infos: &[HandlerInfo],
    from: usize,
    catch: bool,
    sink: &mut FailureSink<'_>,
    mut call: impl FnMut(usize) -> Result<(), BoxError>,
) {
    let mut next = from;
    while next < infos.len() {
        let mut current = next;
        let mut run = || {
            for (at, info) in infos.iter().enumerate().skip(next) {
                current = at;
                if let Err(error) = call(at) {
                    sink.push(HandlerFailure::from_error(info, sink.event(), error));
                }
            }
        };
        if !catch {
            run();
            return;
        }
        // By reference: moving the closure into `catch_unwind` copies its
        // captures on every publish.
        match catch_unwind(AssertUnwindSafe(&mut run)) {
            Ok(()) => return,
            Err(payload) => {
                sink.push(HandlerFailure::from_panic(
                    &infos[current],
                    sink.event(),
                    take_panic(payload),
                ));
                next = current + 1;
            }
        }
    }
}

/// Runs one call that is not part of a route (a run-time subscription, a
/// deferred sync handler), recording its error or panic.
pub(crate) fn run_one(
    info: &HandlerInfo,
    catch: bool,
    sink: &mut FailureSink<'_>,
    call: impl FnOnce() -> Result<(), BoxError>,
) {
    let outcome = if catch {
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(outcome) => outcome,
            Err(payload) => {
                sink.push(HandlerFailure::from_panic(
                    info,
                    sink.event(),
                    take_panic(payload),
                ));
                return;
            }
        }
    } else {
        call()
    };
    if let Err(error) = outcome {
        sink.push(HandlerFailure::from_error(info, sink.event(), error));
    }
}
