//! One handler call through the layer stack, with panics caught and the
//! follow-ups of a failed attempt discarded.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::call::HandlerFuture;
use crate::call_error::Panicked;
use crate::context::Context;
use crate::depth::DepthScope;
use crate::handler::{BoxError, HandlerInfo};
use crate::layer::{BoxFuture, Call, Layer, Next, NextAsync};
use crate::report::{take_panic, EventRef, HandlerFailure};

/// What every call needs besides the handler.
#[derive(Clone, Copy)]
pub(crate) struct Stack<'a> {
    /// The layers added to the bus.
    pub(crate) layers: &'a [Arc<dyn Layer>],
    /// The same, with the retry and timeout layers the bus adds for
    /// handlers that set `retry` or `timeout_ms`.
    pub(crate) policy_layers: &'a [Arc<dyn Layer>],
    pub(crate) catch: bool,
}

/// Whether a handler's own options need the policy layers.
pub(crate) fn has_policy(info: &HandlerInfo) -> bool {
    info.retry() > 0 || info.timeout().is_some()
}

impl<'a> Stack<'a> {
    fn layers_for(&self, info: &HandlerInfo) -> &'a [Arc<dyn Layer>] {
        if has_policy(info) {
            self.policy_layers
        } else {
            self.layers
        }
    }

    /// Runs a sync handler call through the layers; the failure, if any,
    /// names `info` and counts the attempts made.
    pub(crate) fn call_sync(
        self,
        info: &HandlerInfo,
        event: EventRef<'_>,
        context: Option<&Context>,
        handler: &dyn Fn() -> Result<(), BoxError>,
    ) -> Option<HandlerFailure> {
        let call = Call::new(event.name, event.id, context.map(Context::envelope), info);
        let innermost = || {
            let follow_ups = AttemptFollowUps::mark(context);
            let result = guard(self.catch, handler);
            follow_ups.keep_if_ok(&result);
            result
        };
        // The layers run inside a catch too, so a panicking layer is a
        // failure of this call and not of the bus.
        let layers = self.layers_for(info);
        let result = guard(self.catch, &|| Next::new(layers, &call, &innermost).run());
        result
            .err()
            .map(|error| HandlerFailure::from_call(info, event, error, call.attempts()))
    }

    /// Runs an async handler call through the layers; `make` starts the
    /// handler (again, on a retry).
    pub(crate) async fn call_async<'m>(
        self,
        info: &HandlerInfo,
        event: EventRef<'_>,
        context: Option<&Context>,
        depth: u32,
        make: &'m (dyn Fn() -> HandlerFuture<'m> + Send + Sync),
    ) -> Option<HandlerFailure> {
        let catch = self.catch;
        if self.layers_for(info).is_empty() {
            // No layer: one attempt, polled directly.
            let follow_ups = AttemptFollowUps::mark(context);
            let result = Guarded {
                inner: make(),
                depth: Some(depth),
                catch,
            }
            .await;
            follow_ups.keep_if_ok(&result);
            return result
                .err()
                .map(|error| HandlerFailure::from_call(info, event, error, 1));
        }
        let call = Call::new(event.name, event.id, context.map(Context::envelope), info);
        let innermost = move || -> BoxFuture<'_, Result<(), BoxError>> {
            let follow_ups = AttemptFollowUps::mark(context);
            let attempt = Guarded {
                inner: make(),
                depth: Some(depth),
                catch,
            };
            Box::pin(async move {
                let result = attempt.await;
                follow_ups.keep_if_ok(&result);
                result
            })
        };
        let layers = self.layers_for(info);
        // The stack is entered on the first poll, inside the catch: a layer
        // that panics while making its future fails this call only.
        let stacked: BoxFuture<'_, Result<(), BoxError>> =
            Box::pin(async { NextAsync::new(layers, &call, &innermost).run().await });
        let layered = Guarded {
            inner: stacked,
            depth: Some(depth),
            catch,
        };
        let result = layered.await;
        result
            .err()
            .map(|error| HandlerFailure::from_call(info, event, error, call.attempts()))
    }
}

/// The follow-ups queued when an attempt started: those the attempt adds
/// are kept only if it succeeds (a failed attempt starts no chain).
#[derive(Clone, Copy)]
struct AttemptFollowUps<'a> {
    context: Option<&'a Context>,
    mark: usize,
}

impl<'a> AttemptFollowUps<'a> {
    fn mark(context: Option<&'a Context>) -> Self {
        Self {
            context,
            mark: context.map_or(0, Context::follow_up_mark),
        }
    }

    fn keep_if_ok(self, result: &Result<(), BoxError>) {
        if let (Err(_), Some(context)) = (result, self.context) {
            context.discard_follow_ups_after(self.mark);
        }
    }
}

/// Calls `f`, turning a panic into a [`Panicked`] error when `catch`.
pub(crate) fn guard(catch: bool, f: &dyn Fn() -> Result<(), BoxError>) -> Result<(), BoxError> {
    if !catch {
        return f();
    }
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(Box::new(Panicked::new(take_panic(payload)))))
}

/// A future polled with the cascade depth of its event set (so
/// `bus.publish` inside an async handler counts toward the limit) and,
/// when `catch`, its panics turned into [`Panicked`] errors.
pub(crate) struct Guarded<F> {
    pub(crate) inner: F,
    /// `None` when the owner polls it inside an [`AtDepth`] already.
    pub(crate) depth: Option<u32>,
    pub(crate) catch: bool,
}

/// A future polled with the cascade depth of its event set: for a join of
/// one event's handler futures, one depth scope per poll of the join
/// rather than one per future.
pub(crate) struct AtDepth<F> {
    pub(crate) inner: F,
    pub(crate) depth: u32,
}

impl<F: Future + Unpin> Future for AtDepth<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let _depth = DepthScope::enter(self.depth);
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<F> Future for Guarded<F>
where
    F: Future<Output = Result<(), BoxError>> + Unpin,
{
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let _depth = self.depth.map(DepthScope::enter);
        if !self.catch {
            return Pin::new(&mut self.inner).poll(cx);
        }
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.inner).poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(Box::new(Panicked::new(take_panic(payload))))),
        }
    }
}
