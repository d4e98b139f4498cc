//! [`TracingLayer`]: `tracing` spans around every delivery and handler call.

use tracing::Instrument;

use super::{BoxFuture, Call, Layer, Next, NextAsync, Panicked};
use crate::envelope::Envelope;
use crate::handler::BoxError;

/// Opens a `tracing` span for every delivered event (`publish`, with the
/// event name, id and correlation id) and one for every handler call
/// (`handler`, with the handler's name besides), and logs failed calls as
/// `tracing` errors: panics as "handler panicked", errors as "handler
/// failed".
///
/// It reads envelopes, so with it the bus builds an envelope for every
/// event.
///
/// ```
/// use eventbus::layer::TracingLayer;
/// use eventbus::prelude::*;
///
/// let bus = Bus::builder().layer(TracingLayer::new()).build().unwrap();
/// # drop(bus);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TracingLayer {
    _private: (),
}

impl TracingLayer {
    /// The layer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn handler_span(call: &Call<'_>) -> tracing::Span {
    let envelope = call.envelope();
    tracing::info_span!(
        target: "eventbus",
        "handler",
        handler = call.handler().handler_name(),
        event = call.event_name(),
        event_id = %call.event_id(),
        correlation_id = %envelope.map_or(call.event_id(), |envelope| envelope.correlation_id),
    )
}

fn log(call: &Call<'_>, result: &Result<(), BoxError>) {
    let Err(error) = result else {
        return;
    };
    if let Some(panicked) = error.downcast_ref::<Panicked>() {
        tracing::error!(
            target: "eventbus",
            attempts = call.attempts(),
            "handler panicked: {}",
            panicked.message()
        );
    } else {
        tracing::error!(target: "eventbus", attempts = call.attempts(), "handler failed: {error}");
    }
}

impl Layer for TracingLayer {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let span = handler_span(call);
        let _entered = span.enter();
        let result = next.run();
        log(call, &result);
        result
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let span = handler_span(call);
        Box::pin(
            async move {
                let result = next.run().await;
                log(call, &result);
                result
            }
            .instrument(span),
        )
    }

    fn reads_envelope(&self) -> bool {
        true
    }

    fn delivery_span(
        &self,
        event_name: &'static str,
        envelope: Option<&Envelope>,
    ) -> Option<tracing::Span> {
        let envelope = envelope?;
        Some(tracing::info_span!(
            target: "eventbus",
            "publish",
            event = event_name,
            event_id = %envelope.id,
            correlation_id = %envelope.correlation_id,
            sequence = envelope.sequence,
        ))
    }
}
