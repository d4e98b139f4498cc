//! The handlers of one event type as a bus runs them: resolved at build
//! time to a slice of plain function pointers, so a publish is a loop of
//! direct calls with no lookup and no allocation.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::event::Event;
use crate::handler::{BoxError, HandlerInfo};
use crate::registry::{CallArgs, ErasedCall, HandlerCall, TypedCall};
use crate::report::{HandlerFailure, Report};

/// A route of any event type, as a bus stores it.
pub(crate) type AnyRoute = Box<dyn Any + Send + Sync>;

/// One handler of a route being built.
pub(crate) struct RouteEntry {
    pub(crate) call: HandlerCall,
    pub(crate) info: HandlerInfo,
    /// False for catch-all handlers, which `Report::handled` leaves out.
    pub(crate) counted: bool,
}

enum Call<E> {
    Typed(TypedCall<E>),
    Erased(ErasedCall),
}

/// The handlers of the event type `E`, in dispatch order.
pub(crate) struct TypedRoute<E> {
    calls: Box<[Call<E>]>,
    /// Read only when a call fails.
    infos: Box<[HandlerInfo]>,
    /// How many of `calls` are the event's own handlers.
    counted: usize,
}

/// Builds the route of `E`; stored in `E`'s metadata as a plain `fn` so
/// the builder can call it without knowing `E`.
pub(crate) fn build_typed<E: Event>(entries: Vec<RouteEntry>) -> AnyRoute {
    let counted = entries.iter().filter(|entry| entry.counted).count();
    let (calls, infos) = entries
        .into_iter()
        .map(|entry| {
            let call = match entry.call {
                HandlerCall::Typed(call) => Call::Typed(
                    *call
                        .downcast_ref::<TypedCall<E>>()
                        .expect("HandlerRegistration::typed pairs each call with its event type"),
                ),
                HandlerCall::Erased(call) => Call::Erased(call),
            };
            (call, entry.info)
        })
        .unzip::<_, _, Vec<_>, Vec<_>>();
    Box::new(TypedRoute {
        calls: calls.into_boxed_slice(),
        infos: infos.into_boxed_slice(),
        counted,
    })
}

impl<E: Event> TypedRoute<E> {
    #[inline]
    pub(crate) fn dispatch(
        &self,
        event: &E,
        args: &CallArgs<'_>,
        catch: bool,
        report: &mut Report,
    ) {
        report.add_handled(self.counted);
        run_all(&self.infos, catch, report, |at| match &self.calls[at] {
            Call::Typed(call) => call(event, args),
            Call::Erased(call) => call(args),
        });
    }
}

/// Handlers that see events without their type: the catch-alls of event
/// types no bus has a route for, and the `&DeadEvent` handlers.
#[derive(Default)]
pub(crate) struct ErasedRoute {
    calls: Box<[ErasedCall]>,
    infos: Box<[HandlerInfo]>,
}

impl ErasedRoute {
    pub(crate) fn new(entries: Vec<(ErasedCall, HandlerInfo)>) -> Self {
        let (calls, infos) = entries.into_iter().unzip::<_, _, Vec<_>, Vec<_>>();
        Self {
            calls: calls.into_boxed_slice(),
            infos: infos.into_boxed_slice(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub(crate) fn dispatch(&self, args: &CallArgs<'_>, catch: bool, report: &mut Report) {
        run_all(&self.infos, catch, report, |at| (self.calls[at])(args));
    }
}

/// Calls `call(0..infos.len())` in order, recording each error and panic
/// as a failure of the matching handler and going on with the next.
///
/// One `catch_unwind` covers the whole loop rather than each call: after a
/// panic the loop is entered again after the handler that panicked, so the
/// path without panics is a plain loop.
#[inline]
fn run_all(
    infos: &[HandlerInfo],
    catch: bool,
    report: &mut Report,
    mut call: impl FnMut(usize) -> Result<(), BoxError>,
) {
    let mut next = 0;
    while next < infos.len() {
        let mut current = next;
        let mut run = || {
            for (at, info) in infos.iter().enumerate().skip(next) {
                current = at;
                if let Err(error) = call(at) {
                    let failure = HandlerFailure::from_error(info, report.event_name(), error);
                    report.push_failure(failure);
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
                let failure =
                    HandlerFailure::from_panic(&infos[current], report.event_name(), &*payload);
                report.push_failure(failure);
                next = current + 1;
            }
        }
    }
}

/// Runs one call that is not part of a route (a run-time subscription),
/// recording its error or panic.
pub(crate) fn run_one(
    info: &HandlerInfo,
    catch: bool,
    report: &mut Report,
    call: impl FnOnce() -> Result<(), BoxError>,
) {
    let outcome = if catch {
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(outcome) => outcome,
            Err(payload) => {
                let failure = HandlerFailure::from_panic(info, report.event_name(), &*payload);
                report.push_failure(failure);
                return;
            }
        }
    } else {
        call()
    };
    if let Err(error) = outcome {
        report.push_failure(HandlerFailure::from_error(info, report.event_name(), error));
    }
}
