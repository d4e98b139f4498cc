//! The HTTP ingress (`eventbus::http::router`) on a free port of
//! 127.0.0.1: events in by name and in the original `WebhookBus`'s body,
//! every refusal with its status and exact JSON body and nothing
//! delivered, signed webhooks from a `WebhookSink`, many clients at once,
//! and what the bus knows of its handlers.

#[path = "common/serve.rs"]
mod serve;
#[path = "common/sse.rs"]
mod sse;

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;
use eventbus::http::{Endpoint, EventStream, Ingress, WebhookSink};
use eventbus::prelude::*;
use eventbus::{Origin, Uuid};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "ingress.order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

/// An order the handler saw: its item, id, origin and source.
type Seen = (String, Uuid, Origin, Option<String>);

/// Each order the handler saw.
static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

#[subscribe]
fn on_order(order: &OrderPlaced, ctx: &Context) {
    let envelope = ctx.envelope();
    SEEN.lock().unwrap().push((
        order.item.clone(),
        envelope.id,
        envelope.origin,
        envelope.source.as_deref().map(str::to_owned),
    ));
}

/// The tests share `SEEN`: each picks its own items.
fn seen(prefix: &str) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(item, ..)| item.starts_with(prefix))
        .cloned()
        .collect()
}

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "ingress.cart_emptied")]
struct CartEmptied {
    cart: u32,
}

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// `method` `url` with `body` as `content_type`: the status and the body.
async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut request = axum::http::Request::builder().method(method).uri(url);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn post_json(client: &HttpClient, url: &str, body: &str) -> (u16, Value) {
    let (status, body) = call(client, "POST", url, Some("application/json"), body).await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_by_name_is_delivered_as_remote_from_http() {
    let bus = Bus::new();
    let base = serve::serve(Ingress::new(bus.clone()).router()).await;
    let client = client();
    let (status, body) = post_json(
        &client,
        &format!("{base}/events/ingress.order_placed"),
        r#"{"item":"named book","quantity":1}"#,
    )
    .await;
    assert_eq!(status, 202);
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body, json!({ "id": id.to_string() }));
    assert_eq!(
        seen("named"),
        [(
            "named book".to_owned(),
            id,
            Origin::Remote,
            Some("http".to_owned())
        )]
    );

    let (status, body) = post_json(
        &client,
        &format!("{base}/events/ingress.order_placed?wait=true"),
        r#"{"item":"named pen","quantity":1}"#,
    )
    .await;
    assert_eq!(status, 200);
    let id = seen("named pen")[0].1;
    assert_eq!(
        body,
        json!({ "id": id.to_string(), "handled": 1, "failures": [] })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_webhook_bus_body_is_taken_at_events() {
    let bus = Bus::new();
    let base = serve::serve(Ingress::new(bus.clone()).router()).await;
    let (status, body) = post_json(
        &client(),
        &format!("{base}/events"),
        r#"{"event": "ingress.order_placed", "payload": {"item": "original lamp", "quantity": 2}}"#,
    )
    .await;
    assert_eq!(status, 202);
    let seen = seen("original");
    assert_eq!(seen.len(), 1);
    assert_eq!(body, json!({ "id": seen[0].1.to_string() }));
    assert_eq!(
        (seen[0].2, seen[0].3.as_deref()),
        (Origin::Remote, Some("http"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_status_and_body_and_delivers_nothing() {
    let bus = Bus::new();
    let client = client();
    let base = serve::serve(Ingress::new(bus.clone()).body_limit(64).router()).await;
    let named = format!("{base}/events/ingress.order_placed");

    let (status, body) =
        post_json(&client, &format!("{base}/events/ingress.order_placd"), "{}").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({
            "error": "no event type is registered under the name `ingress.order_placd`; did you mean `ingress.order_placed` or `ingress.cart_emptied`?",
            "did_you_mean": ["ingress.order_placed", "ingress.cart_emptied"],
        })
    );
    let (status, body) = post_json(&client, &named, r#"{"item":"refused 1"}"#).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "error": "the JSON for event `ingress.order_placed` does not decode into `ingress::OrderPlaced`: missing field `quantity` at line 1 column 20" })
    );
    let (status, body) = post_json(&client, &format!("{base}/events"), r#"{"payload":{}}"#).await;
    assert_eq!(status, 422);
    assert_eq!(
        body,
        json!({ "error": "the body is not `{\"event\": name, \"payload\": {...}}`: missing field `event` at line 1 column 14" })
    );
    let long = format!(r#"{{"item":"refused {}","quantity":1}}"#, "x".repeat(64));
    let (status, body) = post_json(&client, &named, &long).await;
    assert_eq!(status, 413);
    assert_eq!(
        body,
        json!({ "error": "the body is over the limit of 64 bytes" })
    );
    let (status, body) = call(&client, "POST", &named, Some("text/plain"), "item=refused").await;
    assert_eq!(status, 415);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "error": "the body must be JSON: send it with `content-type: application/json`" })
    );

    let signed = serve::serve(Ingress::new(bus.clone()).secret(SECRET).unwrap().router()).await;
    let (status, body) = post_json(
        &client,
        &format!("{signed}/events/ingress.order_placed"),
        r#"{"item":"refused unsigned","quantity":1}"#,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({ "error": "the signature is refused: the `webhook-id` header is missing: the request is not a signed webhook" })
    );

    bus.shutdown().await;
    let (status, body) =
        post_json(&client, &named, r#"{"item":"refused late","quantity":1}"#).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({ "error": "the bus is shut down: nothing was delivered; try another instance or later" })
    );
    assert_eq!(seen("refused"), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_from_a_webhook_sink_are_taken_under_their_ids() {
    let receiving = Bus::new();
    let base = serve::serve(
        Ingress::new(receiving.clone())
            .secret(SECRET)
            .unwrap()
            .router(),
    )
    .await;
    let webhooks = WebhookSink::new();
    let endpoint = Endpoint::new(&format!("{base}/events"))
        .unwrap()
        .secret(SECRET)
        .unwrap();
    webhooks.register("ingress.order_placed", endpoint).unwrap();
    // The sending bus has no handler of its own for this run: its
    // handlers would run too, so its orders are told apart by item.
    let sending = Bus::builder()
        .sink("webhooks", webhooks.clone())
        .build()
        .unwrap();
    let id = sending
        .publish(OrderPlaced {
            item: "signed chair".into(),
            quantity: 1,
        })
        .event_id();
    sending.flush().await;
    assert_eq!(webhooks.endpoints()[0].sent, 1);
    let seen = seen("signed");
    // Once by the sending bus's own handler (local), once through HTTP.
    let mut origins: Vec<_> = seen
        .iter()
        .map(|(_, seen_id, origin, source)| (*seen_id, *origin, source.clone()))
        .collect();
    origins.sort_by_key(|(_, origin, _)| *origin == Origin::Remote);
    assert_eq!(
        origins,
        [
            (id, Origin::Local, None),
            (id, Origin::Remote, Some("http".to_owned()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_from_sixteen_clients_are_each_delivered_once() {
    let bus = Bus::new();
    let base = serve::serve(Ingress::new(bus.clone()).router()).await;
    let url = format!("{base}/events/ingress.order_placed");
    let mut clients = Vec::new();
    for worker in 0..16 {
        let url = url.clone();
        clients.push(tokio::spawn(async move {
            let client = client();
            let mut ids = Vec::new();
            for n in 0..625 {
                let body = format!(r#"{{"item":"load {worker}-{n}","quantity":1}}"#);
                let (status, body) = post_json(&client, &url, &body).await;
                assert_eq!(status, 202);
                ids.push(body["id"].as_str().unwrap().parse::<Uuid>().unwrap());
            }
            ids
        }));
    }
    let mut accepted = HashSet::new();
    for client in clients {
        accepted.extend(client.await.unwrap());
    }
    assert_eq!(accepted.len(), 10_000);
    let seen = seen("load");
    assert_eq!(seen.len(), 10_000);
    let delivered: HashSet<Uuid> = seen.iter().map(|(_, id, ..)| *id).collect();
    assert_eq!(delivered, accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_graph_and_health_say_what_the_bus_knows() {
    let bus = Bus::new();
    let base = serve::serve(Ingress::new(bus.clone()).router()).await;
    let client = client();
    let (status, body) = call(&client, "GET", &format!("{base}/handlers"), None, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([{
            "event": "ingress.order_placed",
            "handler": "ingress::on_order",
            "priority": 0,
            "mode": "inline",
            "group": null,
        }])
    );
    let (status, body) = call(&client, "GET", &format!("{base}/graph"), None, "").await;
    assert_eq!((status, body), (200, bus.graph()));
    assert!(bus.graph().starts_with("flowchart LR\n"));
    let (status, body) = call(&client, "GET", &format!("{base}/health"), None, "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_events_published_after_connecting_and_filters_by_name() {
    let events = EventStream::new();
    let bus = Bus::builder().sink("sse", events.clone()).build().unwrap();
    let base = serve::serve(Ingress::new(bus.clone()).stream(events).router()).await;
    let mut all = sse::SseClient::connect(&format!("{base}/events/stream"), None).await;
    let mut carts = sse::SseClient::connect(
        &format!("{base}/events/stream?names=ingress.cart_emptied"),
        None,
    )
    .await;

    let order = bus
        .publish(OrderPlaced {
            item: "streamed kettle".into(),
            quantity: 1,
        })
        .event_id();
    let cart = bus.publish(CartEmptied { cart: 7 }).event_id();

    let first = all.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), first.id.clone()),
        ("ingress.order_placed", order.to_string())
    );
    let body: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(
        body["payload"],
        json!({"item": "streamed kettle", "quantity": 1})
    );
    assert_eq!(body["id"], order.to_string());
    let second = all.next().await.unwrap();
    assert_eq!(
        (second.event.as_str(), second.id),
        ("ingress.cart_emptied", cart.to_string())
    );
    let only = carts.next().await.unwrap();
    assert_eq!(
        (only.event.as_str(), only.id),
        ("ingress.cart_emptied", cart.to_string())
    );

    // A shutdown ends every stream.
    bus.shutdown().await;
    assert!(all.ends().await);
    assert!(carts.ends().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_event_stream_the_route_says_what_to_add() {
    let bus = Bus::new();
    let base = serve::serve(Ingress::new(bus).router()).await;
    let (status, body) = call(&client(), "GET", &format!("{base}/events/stream"), None, "").await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({ "error": "this ingress has no event stream: add an `EventStream` to the bus as a sink and give it to `Ingress::stream`" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_example_prints_the_original_lines_and_stops_on_ctrl_c_with_a_stream_open() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "serve", "--features", "http"])
        .env("EVENTBUS_ADDR", format!("127.0.0.1:{port}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo runs the example");
    // It says where it listens once it does.
    let stderr = child.stderr.take().unwrap();
    let listening = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        lines.next().unwrap().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        listening,
        format!("listening on http://127.0.0.1:{port} (the console is at /)")
    );

    let base = format!("http://127.0.0.1:{port}");
    let mut stream = sse::SseClient::connect(&format!("{base}/events/stream"), None).await;
    let (status, _) = post_json(
        &client(),
        &format!("{base}/events/order_placed"),
        r#"{"item":"Book","quantity":1}"#,
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(stream.next().await.unwrap().event, "order_placed");

    // Ctrl-C, with the stream still open: the example ends, and so does
    // the stream.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "Order placed: Book. Updating inventory...\nSending notification for order: Book\n"
    );
    assert!(stream.ends().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signature_a_refused_commit_and_a_shut_bus_are_refused() {
    let journal = eventbus::MemoryJournal::new();
    let bus = Bus::builder().journal(journal.clone()).build().unwrap();
    let client = client();
    let base = serve::serve(Ingress::new(bus.clone()).router()).await;

    journal.fail_appends(true);
    let (status, body) = post_json(
        &client,
        &format!("{base}/events/ingress.order_placed"),
        r#"{"item":"uncommitted","quantity":1}"#,
    )
    .await;
    assert_eq!(status, 500);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with("the event was not accepted: the journal did not store the event: "),
        "{error}"
    );
    assert_eq!(body["id"].as_str().unwrap().len(), 36);
    journal.fail_appends(false);

    let signed = serve::serve(Ingress::new(bus.clone()).secret(SECRET).unwrap().router()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let other: eventbus::http::Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
    let body = r#"{"item":"wrongly signed","quantity":1}"#;
    let signature = other.sign("msg_1", now.parse().unwrap(), body.as_bytes());
    let request = axum::http::Request::post(format!("{signed}/events/ingress.order_placed"))
        .header("content-type", "application/json")
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", &now)
        .header("webhook-signature", signature)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 401);
    let answer: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        answer,
        json!({ "error": "the signature is refused: no signature in `webhook-signature` matches the body under this secret: the body was changed, or it was signed with another secret" })
    );

    bus.shutdown().await;
    let (status, body) = post_json(
        &client,
        &format!("{base}/events"),
        r#"{"event":"ingress.order_placed","payload":{"item":"refused after","quantity":1}}"#,
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({ "error": "the bus is shut down: nothing was delivered; try another instance or later" })
    );
    assert_eq!(
        seen("uncommitted").len(),
        1,
        "the inline handler ran before the commit failed"
    );
    assert_eq!(seen("wrongly"), []);
    assert_eq!(seen("refused after"), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ids_are_log_positions_with_any_journal_and_resume_from_them() {
    let journal = eventbus::MemoryJournal::new();
    let events = EventStream::journal(journal.clone());
    let bus = Bus::builder()
        .journal(journal.clone())
        .sink("sse", events.clone())
        .build()
        .unwrap();
    let base = serve::serve(Ingress::new(bus.clone()).stream(events).router()).await;
    let url = format!("{base}/events/stream");
    let mut live = sse::SseClient::connect(&url, None).await;
    for cart in 1..=3 {
        bus.emit(CartEmptied { cart }).await.unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(live.next().await.unwrap().id);
    }
    assert_eq!(ids, ["1", "2", "3"]);
    bus.emit(CartEmptied { cart: 4 }).await.unwrap();
    assert_eq!(live.next().await.unwrap().id, "4");

    let mut resumed = sse::SseClient::connect(&url, Some("2")).await;
    assert_eq!(resumed.next().await.unwrap().id, "3");
    assert_eq!(resumed.next().await.unwrap().id, "4");
    // An id past the end of the log (a log reset since) goes live.
    let mut ahead = sse::SseClient::connect(&url, Some("99")).await;
    bus.emit(CartEmptied { cart: 5 }).await.unwrap();
    assert_eq!(resumed.next().await.unwrap().id, "5");
    assert_eq!(ahead.next().await.unwrap().id, "5");
    bus.shutdown().await;
}
