//! eventbus over HTTP: the records of accepted events sent as webhooks
//! ([`WebhookSink`], the original's `WebhookBus`), signed as Standard
//! Webhooks 1.0 says, tried again on a schedule, and kept in the event
//! log's database with the `store` feature; [`verify`] for receivers.
//!
//! The wire format is pinned (receivers in any language rely on it):
//!
//! - `POST` with `content-type: application/json`, `webhook-id: <event
//!   id>` (the same on every try), `webhook-timestamp: <unix seconds>` and,
//!   for an endpoint with secrets, `webhook-signature: v1,<base64
//!   HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one per secret,
//!   separated by spaces. The official verifiers (`standardwebhooks` on
//!   `PyPI` and crates.io, the `svix` libraries) accept them.
//! - The body: `{"event": name, "payload": <event JSON>, "id": "<uuid>",
//!   "version": n, "timestamp": "<RFC 3339>", "correlation_id": "<uuid>",
//!   "causation_id": "<uuid>"|null}`, or with [`WebhookFormat::Standard`]
//!   `{"type": name, "timestamp": .., "data": <event JSON>}`.
//! - With a store, pending deliveries are rows of
//!   `eventbus_webhook_deliveries(event_id, endpoint, attempts,
//!   next_attempt_at, last_status)`.
#![forbid(unsafe_code)]

mod client;
#[cfg(feature = "store")]
mod durable;
mod endpoint;
mod error;
mod ingress;
mod live;
mod memory;
mod schedule;
mod signature;
mod sink;
mod stream;

pub use endpoint::{Endpoint, EndpointStats, IntoEndpoint, WebhookFormat};
pub use error::{VerifyError, WebhookError};
/// The header map [`verify`] reads (the `http` crate's, as axum and hyper
/// use).
pub use http::HeaderMap;
pub use ingress::{router, Ingress, DEFAULT_BODY_LIMIT};
pub use schedule::RetrySchedule;
pub use signature::{verify, Secret, DEFAULT_TOLERANCE};
pub use sink::{
    WebhookSink, WebhookSinkBuilder, DEFAULT_BACKLOG, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT,
};
pub use stream::EventStream;
