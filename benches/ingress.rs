//! Requests per second for `POST /events/{name}` on the HTTP ingress
//! (axum on 127.0.0.1, a bus with two inline handlers), beside bare axum
//! handlers that only decode the same JSON into the same type, one
//! answering `202 {"id": "<uuid>"}` as the ingress does, one an empty
//! `202`; the same client for all: hyper's pooled client, 16 requests at
//! once. Run with `cargo bench --bench ingress --features http`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventbus::prelude::*;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "bench.ingress_order")]
struct OrderPlaced {
    item: String,
    quantity: u32,
    #[serde(default)]
    user_id: u64,
}

#[subscribe]
fn update_inventory(order: &OrderPlaced) {
    support::body(u64::from(order.quantity));
}

#[subscribe]
fn send_notification(order: &OrderPlaced) {
    support::body(order.user_id);
}

/// Requests in flight at once.
const CLIENTS: u64 = 16;

const BODY: &str = r#"{"item":"Python Book","quantity":1,"user_id":42}"#;

fn bench(c: &mut Criterion) {
    let runtime = support::runtime();
    let bus = runtime.block_on(async { Bus::new() });
    let ingress = runtime.block_on(support::serve(eventbus::http::router(bus)));
    // The same JSON decoded into the same type, answered `202` with no
    // body.
    let bare_empty = runtime.block_on(support::serve(Router::new().route(
        "/events/{name}",
        post(|body: Bytes| async move {
            match serde_json::from_slice::<OrderPlaced>(&body) {
                Ok(order) => {
                    support::body(u64::from(order.quantity));
                    StatusCode::ACCEPTED
                }
                Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
            }
        }),
    )));
    // The same, answered as the ingress answers: `202 {"id": "<uuid>"}`.
    let bare = runtime.block_on(support::serve(Router::new().route(
        "/events/{name}",
        post(|body: Bytes| async move {
            match serde_json::from_slice::<OrderPlaced>(&body) {
                Ok(order) => {
                    support::body(u64::from(order.quantity));
                    let id = eventbus::Envelope::generate().id.to_string();
                    (
                        StatusCode::ACCEPTED,
                        axum::Json(serde_json::json!({ "id": id })),
                    )
                        .into_response()
                }
                Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
            }
        }),
    )));
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();

    let mut group = c.benchmark_group("ingress");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));
    for (name, base) in [
        ("router", &ingress),
        ("bare_axum_with_id", &bare),
        ("bare_axum_empty", &bare_empty),
    ] {
        let url: axum::http::Uri = format!("{base}/events/bench.ingress_order")
            .parse()
            .unwrap();
        group.bench_function(BenchmarkId::new(name, CLIENTS), |b| {
            b.iter_custom(|requests| {
                runtime.block_on(async {
                    let started = Instant::now();
                    let next = Arc::new(AtomicU64::new(0));
                    let mut workers = Vec::new();
                    for _ in 0..CLIENTS {
                        let (client, next, url) = (client.clone(), Arc::clone(&next), url.clone());
                        workers.push(tokio::spawn(async move {
                            while next.fetch_add(1, Ordering::Relaxed) < requests {
                                let request = axum::http::Request::post(url.clone())
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                                    .unwrap();
                                let response = client.request(request).await.unwrap();
                                assert_eq!(response.status(), StatusCode::ACCEPTED);
                                let _ =
                                    http_body_util::BodyExt::collect(response.into_body()).await;
                            }
                        }));
                    }
                    for worker in workers {
                        worker.await.unwrap();
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
