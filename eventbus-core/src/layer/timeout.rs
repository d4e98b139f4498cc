//! [`TimeoutLayer`]: async and blocking calls stopped at a time limit.

use std::time::Duration;

use super::{BoxFuture, Call, Layer, NextAsync, NoRuntime, TimedOut};
use crate::handler::BoxError;

/// Stops an async or blocking handler call that runs past its limit:
/// `#[subscribe(timeout_ms = N)]`, or the layer's default for handlers that
/// do not say. An async handler is cancelled (its future dropped); a
/// blocking one is abandoned, its thread runs on. The call is reported as
/// a [`FailureKind::Timeout`](crate::FailureKind::Timeout) failure whose
/// message names the limit.
///
/// Sync handlers that run inline cannot be stopped and are not timed; the
/// macro refuses `timeout_ms` on them.
///
/// The bus adds one without a default, innermost, when a handler has its
/// own limit and no timeout layer was added.
///
/// ```
/// use std::time::Duration;
///
/// use eventbus::layer::TimeoutLayer;
/// use eventbus::prelude::*;
///
/// let bus = Bus::builder()
///     .layer(TimeoutLayer::new(Duration::from_secs(5)))
///     .build()
///     .unwrap();
/// # drop(bus);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TimeoutLayer {
    default: Option<Duration>,
}

impl TimeoutLayer {
    /// Limits every async and blocking call to `limit`, unless its handler
    /// has its own.
    #[must_use]
    pub fn new(limit: Duration) -> Self {
        Self {
            default: Some(limit),
        }
    }

    /// Enforces only the handlers' own limits.
    #[must_use]
    pub fn per_handler() -> Self {
        Self { default: None }
    }
}

impl Layer for TimeoutLayer {
    fn enforces_timeout(&self) -> bool {
        true
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let Some(limit) = call.handler().timeout().or(self.default) else {
            return next.run();
        };
        if tokio::runtime::Handle::try_current().is_err() {
            // `tokio::time` would panic; the call is not the handler's fault.
            return Box::pin(std::future::ready(Err(
                Box::new(NoRuntime::new("its time limit")) as BoxError,
            )));
        }
        Box::pin(async move {
            match tokio::time::timeout(limit, next.run()).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(TimedOut::new(limit)) as BoxError),
            }
        })
    }
}
