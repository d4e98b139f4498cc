//! Handlers that do not run inline on the publishing thread: async,
//! background and blocking ones, awaited by `publish_async` or spawned.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::abandoned::Unfinished;
use crate::call::{CallArgs, HandlerFuture, TypedCall};
use crate::call_error::Panicked;
use crate::cascade::Cascade;
use crate::context::Context;
use crate::context::FollowUp;
use crate::dispatcher::Dispatcher;
use crate::envelope::LazyId;
use crate::event::Event;
use crate::handler::{BoxError, HandlerInfo, Mode};
use crate::invoke::guard;
use crate::layer::BoxFuture;
use crate::meta::EventMeta;
use crate::report::{EventRef, FailureKind, HandlerFailure};
use crate::route::{Deferred, DeferredCall};
use crate::subs::Sub;

/// What a deferred handler needs from its delivery, owned or cheap to
/// copy.
pub(crate) struct DeliveryParts<'a> {
    pub(crate) meta: &'static EventMeta,
    pub(crate) context: Option<&'a Context>,
    pub(crate) id: &'a LazyId,
    pub(crate) depth: u32,
    pub(crate) spans: &'a [tracing::Span],
}

/// Where a failure of a deferred call belongs.
pub(crate) fn event_ref<'a>(meta: &'static EventMeta, id: &'a LazyId) -> EventRef<'a> {
    EventRef {
        name: meta.name(),
        id,
    }
}

/// A finished call and the follow-ups it published.
pub(crate) struct Finished {
    pub(crate) failure: Option<HandlerFailure>,
    pub(crate) follow_ups: Vec<FollowUp>,
}

/// What a deferred call owns, so its future can outlive the publish.
struct Owned<E> {
    dispatcher: Arc<Dispatcher>,
    event: Arc<E>,
    meta: &'static EventMeta,
    context: Option<Arc<Context>>,
    info: HandlerInfo,
    id: LazyId,
    depth: u32,
}

impl Dispatcher {
    /// The future of one deferred call, run through the layers: awaited by
    /// `publish_async`, or spawned.
    #[allow(clippy::result_large_err)] // the failure is the cold path
    pub(crate) fn deferred_call<E: Event>(
        self: &Arc<Self>,
        deferred: &Deferred<E>,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
    ) -> Result<BoxFuture<'static, Finished>, HandlerFailure> {
        if deferred.mode() == Mode::Blocking && !self.has_runtime() {
            return Err(self.no_runtime(&deferred.info, parts, &**event));
        }
        let owned = Owned {
            dispatcher: Arc::clone(self),
            event: Arc::clone(event),
            meta: parts.meta,
            // Each deferred handler has its own follow-ups.
            context: parts.context.map(|context| Arc::new(context.fork())),
            info: deferred.info.clone(),
            id: LazyId::known(parts.id.get()),
            depth: parts.depth,
        };
        let call = deferred.call;
        let future: BoxFuture<'static, Finished> = Box::pin(async move {
            let stack = owned.dispatcher.stack();
            let event = event_ref(owned.meta, &owned.id);
            let context = owned.context.as_deref();
            let failure = match (call, owned.info.mode()) {
                (DeferredCall::Async(call), _) => {
                    let make = || call(&owned.event, context, &owned.dispatcher.states);
                    stack
                        .call_async(&owned.info, event, context, owned.depth, &make)
                        .await
                }
                (DeferredCall::Sync(call), Mode::Blocking) => {
                    let make = || owned.blocking(call);
                    stack
                        .call_async(&owned.info, event, context, owned.depth, &make)
                        .await
                }
                (DeferredCall::Sync(call), _) => {
                    let args = CallArgs {
                        meta: owned.meta,
                        event: &*owned.event,
                        context,
                        states: &owned.dispatcher.states,
                    };
                    let _depth = crate::depth::DepthScope::enter(owned.depth);
                    stack.call_sync(&owned.info, event, context, &|| call(&owned.event, &args))
                }
            };
            let failure = failure.map(|mut failure| {
                owned
                    .dispatcher
                    .capture(&mut failure, owned.meta, &*owned.event);
                failure
            });
            Finished {
                failure,
                follow_ups: context.map(Context::take_follow_ups).unwrap_or_default(),
            }
        });
        Ok(instrumented(future, parts.spans))
    }

    /// The future of one call of an async run-time handler, run through
    /// the layers; `None` if the subscription was dropped. Counted in
    /// flight for `unsubscribe` until the future ends or is dropped.
    pub(crate) fn sub_call<E: Event>(
        self: &Arc<Self>,
        sub: &Arc<Sub>,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
    ) -> Option<BoxFuture<'static, Finished>> {
        let call = sub.start()?;
        let dispatcher = Arc::clone(self);
        let typed = Arc::clone(event);
        let erased: Arc<dyn Any + Send + Sync> = Arc::clone(event) as Arc<dyn Any + Send + Sync>;
        let meta = parts.meta;
        let info = sub.info.clone();
        let id = LazyId::known(parts.id.get());
        let depth = parts.depth;
        let context = parts.context.map(|context| Arc::new(context.fork()));
        let future: BoxFuture<'static, Finished> = Box::pin(async move {
            let stack = dispatcher.stack();
            let make = || call.attempt(Arc::clone(&erased));
            let failure = stack
                .call_async(
                    &info,
                    event_ref(meta, &id),
                    context.as_deref(),
                    depth,
                    &make,
                )
                .await
                .map(|mut failure| {
                    dispatcher.capture(&mut failure, meta, &*typed);
                    failure
                });
            drop(call);
            Finished {
                failure,
                follow_ups: Vec::new(),
            }
        });
        Some(instrumented(future, parts.spans))
    }

    /// Spawns a call of an async run-time handler nobody awaits; `None`
    /// if the subscription was dropped.
    #[allow(clippy::result_large_err)] // the failure is the cold path
    pub(crate) fn spawn_sub<E: Event>(
        self: &Arc<Self>,
        sub: &Arc<Sub>,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
    ) -> Option<Result<(), HandlerFailure>> {
        let future = self.sub_call(sub, event, parts)?;
        Some(self.spawn_finished(future, &sub.info, event, parts))
    }

    /// Spawns a deferred call nobody awaits: it reports its failure, and
    /// those of its follow-ups, as unseen failures.
    #[allow(clippy::result_large_err)] // the failure is the cold path
    pub(crate) fn spawn_detached<E: Event>(
        self: &Arc<Self>,
        deferred: &Deferred<E>,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
    ) -> Result<(), HandlerFailure> {
        let future = self.deferred_call(deferred, event, parts)?;
        self.spawn_finished(future, &deferred.info, event, parts)
    }

    /// Spawns `future`, a call of `info` nobody awaits: it reports its
    /// failure, and those of its follow-ups, as unseen failures, and as
    /// abandoned if its runtime drops it before it ends.
    #[allow(clippy::result_large_err)] // the failure is the cold path
    fn spawn_finished<E: Event>(
        self: &Arc<Self>,
        future: BoxFuture<'static, Finished>,
        info: &HandlerInfo,
        event: &Arc<E>,
        parts: &DeliveryParts<'_>,
    ) -> Result<(), HandlerFailure> {
        if !self.has_runtime() {
            return Err(self.no_runtime(info, parts, &**event));
        }
        let dispatcher = Arc::clone(self);
        let unfinished = Unfinished::new(self, Some(info), parts.id.get(), event);
        self.spawn(async move {
            let finished = future.await;
            unfinished.finish();
            let mut failures: Vec<HandlerFailure> = finished.failure.into_iter().collect();
            Cascade::new(finished.follow_ups)
                .run_async(&dispatcher, &mut failures)
                .await;
            dispatcher.report_unseen_failures(failures);
        })
        .ok_or_else(|| self.no_runtime(info, parts, &**event))
    }

    #[cfg_attr(not(feature = "tokio"), allow(clippy::unused_self))]
    fn has_runtime(&self) -> bool {
        #[cfg(feature = "tokio")]
        {
            self.tasks.runtime().is_some()
        }
        #[cfg(not(feature = "tokio"))]
        {
            false
        }
    }
}

impl<E: Event> Owned<E> {
    /// One attempt of a blocking handler: the call, on the blocking pool.
    fn blocking(&self, call: TypedCall<E>) -> HandlerFuture<'static> {
        let (event, context, states, meta, depth) = (
            Arc::clone(&self.event),
            self.context.clone(),
            Arc::clone(&self.dispatcher.states),
            self.meta,
            self.depth,
        );
        let catch = self.dispatcher.settings.catch_panics;
        let work = move || {
            let args = CallArgs {
                meta,
                event: &*event,
                context: context.as_deref(),
                states: &states,
            };
            let _depth = crate::depth::DepthScope::enter(depth);
            guard(catch, &|| call(&event, &args))
        };
        match self.dispatcher.spawn_blocking(work) {
            Some(handle) => Box::pin(async move {
                handle
                    .await
                    .unwrap_or_else(|ended| Err(Box::new(Panicked::new(ended)) as BoxError))
            }),
            None => Box::pin(std::future::ready(Err(BoxError::from(
                "the blocking pool is gone: its runtime shut down",
            )))),
        }
    }
}

impl Dispatcher {
    fn no_runtime(
        &self,
        info: &HandlerInfo,
        parts: &DeliveryParts<'_>,
        event: &dyn Any,
    ) -> HandlerFailure {
        let mut failure = no_runtime(info, parts);
        self.capture(&mut failure, parts.meta, event);
        failure
    }
}

fn no_runtime(info: &HandlerInfo, parts: &DeliveryParts<'_>) -> HandlerFailure {
    HandlerFailure::delivery(
        FailureKind::NoRuntime,
        event_ref(parts.meta, parts.id),
        format!(
            "the {} {} handler {} was not run: no tokio runtime is running on this thread \
             and none was given with `BusBuilder::runtime`; publish from inside a runtime, \
             or give the bus one",
            info.mode(),
            info.kind(),
            info.handler_name()
        ),
    )
}

/// `future` inside the layers' delivery spans, outermost first, wherever
/// it is polled.
fn instrumented(
    future: BoxFuture<'static, Finished>,
    spans: &[tracing::Span],
) -> BoxFuture<'static, Finished> {
    spans.iter().rev().fold(future, |future, span| {
        Box::pin(tracing::Instrument::instrument(future, span.clone()))
    })
}

/// Polls every future until all have finished; their outputs in order,
/// read from the same slots the futures ran in (one allocation per join).
///
/// The output type is a parameter of its own rather than `F::Output`: a
/// projection stored in a field makes futures that hold a `JoinAll` fail
/// the `Send` check inside handlers (rustc cannot prove it for every
/// lifetime).
pub(crate) struct JoinAll<F, T> {
    slots: Vec<Slot<F, T>>,
}

enum Slot<F, T> {
    Pending(F),
    Done(T),
}

impl<F: Future<Output = T> + Unpin, T> JoinAll<F, T> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        Self {
            slots: futures.into_iter().map(Slot::Pending).collect(),
        }
    }
}

// The futures are never pinned in place: each is `Unpin` and polled
// through `Pin::new`.
impl<F, T> Unpin for JoinAll<F, T> {}

impl<F: Future<Output = T> + Unpin, T> Future for JoinAll<F, T> {
    type Output = Joined<F, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Joined<F, T>> {
        let mut pending = false;
        for slot in &mut self.slots {
            if let Slot::Pending(future) = slot {
                match Pin::new(future).poll(cx) {
                    Poll::Ready(value) => *slot = Slot::Done(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(Joined {
            slots: std::mem::take(&mut self.slots).into_iter(),
        })
    }
}

/// The outputs of a [`JoinAll`], in order.
pub(crate) struct Joined<F, T> {
    slots: std::vec::IntoIter<Slot<F, T>>,
}

impl<F, T> Iterator for Joined<F, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.slots.next().map(|slot| match slot {
            Slot::Done(value) => value,
            Slot::Pending(_) => unreachable!("every future has finished"),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl<F, T> ExactSizeIterator for Joined<F, T> {}
