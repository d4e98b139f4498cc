//! The HTTP ingress: [`router`] (and [`Ingress`] for its settings), an
//! axum `Router` that takes events in as the original's `FastAPI` endpoint
//! did, and says what the bus knows of its handlers.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use eventbus_core::{Bus, Envelope, EventMeta, EventRecord, Origin, PublishError, Report};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};

use crate::error::WebhookError;
use crate::signature::{verify, Secret, DEFAULT_TOLERANCE};
use crate::stream::EventStream;

/// The largest body the ingress reads by default: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The ingress's routes with the default settings: no signature asked
/// for, bodies up to 1 MiB. See [`Ingress`].
///
/// ```no_run
/// # async fn run(bus: eventbus_core::Bus) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, eventbus_http::router(bus)).await
/// # }
/// ```
pub fn router(bus: Bus) -> Router {
    Ingress::new(bus).router()
}

/// The HTTP ingress of a bus, the original's `FastAPI` endpoint:
///
/// - `POST /events/{name}` with the event's JSON, or `POST /events` with
///   `{"event": name, "payload": {...}}` (what the original `WebhookBus`
///   posts): `202 {"id": "<uuid>"}` once the bus accepted the event
///   (committed, on a bus with a journal); with `?wait=true`, `200` and
///   the report: `{"id", "handled", "failures": [{"handler", "kind",
///   "message"}]}`. The event has origin `Remote` and source `"http"`.
/// - Errors are JSON, `{"error": "..."}`, and deliver nothing: `404` for a
///   name no type has (with `did_you_mean`), `422` for JSON that does not
///   decode (serde's message), `413` for a body over the limit, `415` for
///   a body that is not `application/json`, `401` for a missing or wrong
///   signature when the ingress has a secret, `503` once the bus is shut
///   down.
/// - `GET /events/stream`: the bus's events as server-sent events, when
///   given an [`EventStream`](Ingress::stream). It is not behind the
///   secret, nor are the routes below: put the ingress behind your own
///   authentication where its events are private.
/// - `GET /`: the event console, a page with the handlers, the event
///   graph drawn, and live events by correlation chain (with an
///   [`EventStream`](Ingress::stream)).
/// - `GET /handlers` (a JSON array: `event`, `handler`, `priority`,
///   `mode`, `group`), `GET /graph` (Mermaid), `GET /health` (`200`).
#[derive(Clone)]
#[must_use]
pub struct Ingress {
    bus: Bus,
    secret: Option<String>,
    body_limit: usize,
    tolerance: Duration,
    stream: Option<EventStream>,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("signed", &self.secret.is_some())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl Ingress {
    /// The ingress of `bus`, with no secret and a 1 MiB body limit.
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            secret: None,
            body_limit: DEFAULT_BODY_LIMIT,
            tolerance: DEFAULT_TOLERANCE,
            stream: None,
        }
    }

    /// Serves `GET /events/stream` from `events`, a sink of the same bus
    /// (see [`EventStream`]); without one that route answers `404` and
    /// says so.
    pub fn stream(mut self, events: EventStream) -> Self {
        self.stream = Some(events);
        self
    }

    /// Takes only events signed with `secret` (`whsec_<base64>`), as
    /// [`WebhookSink`](crate::WebhookSink) signs them; others get `401`.
    ///
    /// # Errors
    ///
    /// [`WebhookError::Secret`] when `secret` is not `whsec_<base64>`.
    pub fn secret(mut self, secret: &str) -> Result<Self, WebhookError> {
        secret.parse::<Secret>()?;
        self.secret = Some(secret.to_owned());
        Ok(self)
    }

    /// Reads bodies up to `bytes` long; longer ones get `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/events", post(post_record))
            .route("/events/stream", get(stream))
            .route("/events/{name}", post(post_named))
            .route("/", get(console))
            .route("/handlers", get(handlers))
            .route("/graph", get(graph))
            .route("/health", get(health))
            .with_state(self)
    }
}

/// An answer that is an error: its status and JSON body.
struct Refusal {
    status: StatusCode,
    body: Value,
}

impl Refusal {
    fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": error.into() }),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<PublishError> for Refusal {
    fn from(error: PublishError) -> Self {
        let message = error.to_string();
        match error {
            PublishError::UnknownEvent { suggestions, .. } => Self {
                status: StatusCode::NOT_FOUND,
                body: json!({ "error": message, "did_you_mean": suggestions }),
            },
            PublishError::LocalEvent { .. } => Self::new(StatusCode::NOT_FOUND, message),
            PublishError::InvalidJson { .. } | PublishError::Upcast(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, message),
        }
    }
}

/// `POST /events/{name}`: the body is the event.
async fn post_named(
    State(ingress): State<Ingress>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let accepted = async {
        let body = ingress.read(&headers, body).await?;
        let meta = EventMeta::find(&name)?;
        let envelope = Envelope::generate()
            .with_origin(Origin::Remote)
            .with_source("http");
        let record = EventRecord::new(meta.name(), meta.version(), body.to_vec(), envelope);
        ingress.deliver(record, wants_report(&uri)).await
    };
    accepted.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /events`: the body is `{"event": name, "payload": {...}}`, with
/// the rest of a record's JSON form if the sender has it.
async fn post_record(
    State(ingress): State<Ingress>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let accepted = async {
        let body = ingress.read(&headers, body).await?;
        let mut record = EventRecord::from_json(&body).map_err(|error| {
            Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the body is not `{{\"event\": name, \"payload\": {{...}}}}`: {error}"),
            )
        })?;
        record.envelope = record.envelope.with_source("http");
        ingress.deliver(record, wants_report(&uri)).await
    };
    accepted.await.unwrap_or_else(IntoResponse::into_response)
}

/// Whether the query asks for the report: `?wait=true`.
fn wants_report(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "wait=true" || pair == "wait=1")
    })
}

impl Ingress {
    /// The body, once it is JSON, within the limit, and signed when a
    /// secret is set.
    async fn read(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::trim)
            .is_some_and(|kind| {
                kind.eq_ignore_ascii_case("application/json") || kind.ends_with("+json")
            });
        if !json {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON: send it with `content-type: application/json`",
            ));
        }
        let body = Limited::new(body, self.body_limit)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    Refusal::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the body is over the limit of {} bytes", self.body_limit),
                    )
                } else {
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        format!("the body could not be read: {error}"),
                    )
                }
            })?
            .to_bytes();
        if let Some(secret) = &self.secret {
            verify(secret, headers, &body, self.tolerance).map_err(|error| {
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    format!("the signature is refused: {error}"),
                )
            })?;
        }
        Ok(body)
    }

    /// Hands `record` to the bus: `202` with its id, or `200` with the
    /// report when asked.
    async fn deliver(&self, record: EventRecord, report: bool) -> Result<Response, Refusal> {
        let id = record.envelope.id;
        let delivered = if report || self.bus.has_journal() {
            // With a journal, accepted means committed.
            self.bus.deliver_async(record).await?
        } else {
            self.bus.deliver(record)?
        };
        let failures = delivered.failures();
        if failures
            .iter()
            .any(|failure| failure.kind() == eventbus_core::FailureKind::ShutDown)
        {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the bus is shut down: nothing was delivered; try another instance or later",
            ));
        }
        // A failure of no handler with the record: the journal did not
        // store it, so it is not accepted.
        if let Some(unstored) = failures.iter().find(|failure| {
            failure.kind() == eventbus_core::FailureKind::Abandoned
                && failure.handler().is_none()
                && failure.record().is_some()
        }) {
            return Err(Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: json!({
                    "error": format!("the event was not accepted: {}", unstored.message()),
                    "id": id.to_string(),
                }),
            });
        }
        if report {
            return Ok((StatusCode::OK, axum::Json(report_json(id, &delivered))).into_response());
        }
        Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "id": id.to_string() })),
        )
            .into_response())
    }
}

/// A report as JSON.
fn report_json(id: eventbus_core::Uuid, report: &Report) -> Value {
    let failures: Vec<Value> = report
        .failures()
        .iter()
        .map(|failure| {
            json!({
                "handler": failure.handler().map(eventbus_core::HandlerInfo::handler_name),
                "kind": format!("{:?}", failure.kind()),
                "message": failure.message(),
            })
        })
        .collect();
    json!({
        "id": id.to_string(),
        "handled": report.handled(),
        "failures": failures,
    })
}

/// `GET /events/stream`: server-sent events, `?names=a,b` to filter,
/// `Last-Event-ID` to resume.
async fn stream(State(ingress): State<Ingress>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(events) = &ingress.stream else {
        return Refusal::new(
            StatusCode::NOT_FOUND,
            "this ingress has no event stream: add an `EventStream` to the bus as a sink and \
             give it to `Ingress::stream`",
        )
        .into_response();
    };
    let names = uri.query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let names = pair.strip_prefix("names=")?;
            Some(
                names
                    .split(',')
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        })
    });
    let last_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    // `?unnamed=true`: every event as a plain `message` (its name is in
    // the data), for a reader that cannot know every name in advance.
    let unnamed = uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "unnamed=true"));
    events.respond(last_id, names, unnamed).into_response()
}

/// `GET /`: the event console, one page with nothing from another host.
async fn console(State(ingress): State<Ingress>) -> Response {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        console_page(ingress.stream.is_some()),
    )
        .into_response()
}

/// The console page, told whether the ingress has an event stream.
fn console_page(streams: bool) -> String {
    include_str!("console.html").replace(
        "const HAS_STREAM = true;",
        if streams {
            "const HAS_STREAM = true;"
        } else {
            "const HAS_STREAM = false;"
        },
    )
}

/// `GET /handlers`.
async fn handlers(State(ingress): State<Ingress>) -> Response {
    let handlers: Vec<Value> = ingress
        .bus
        .handlers()
        .iter()
        .map(|handler| {
            json!({
                "event": handler.event_name(),
                "handler": handler.handler_name(),
                "priority": handler.priority(),
                "mode": format!("{:?}", handler.mode()).to_lowercase(),
                "group": handler.group(),
            })
        })
        .collect();
    axum::Json(handlers).into_response()
}

/// `GET /graph`: the event graph in Mermaid.
async fn graph(State(ingress): State<Ingress>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        ingress.bus.graph(),
    )
        .into_response()
}

/// `GET /health`.
async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}
