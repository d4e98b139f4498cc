//! Webhook deliveries per second to a local receiver (axum on 127.0.0.1,
//! answering 204), to 1 and to 16 endpoints:
//!
//! - `bus`: events emitted on a bus whose `WebhookSink` has every endpoint
//!   registered (4 tries at once per endpoint, the default), until
//!   `flush` returns: every webhook answered;
//! - `raw_hyper`: the same POSTs of the same body through hyper's pooled
//!   client, 4 at once per endpoint, with no bus: the floor of the
//!   machine and the receiver.
//!
//! Throughput counts webhooks (events x endpoints). Run with `cargo bench
//! --bench webhooks --features http`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

#[path = "support/order.rs"]
mod order;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventbus::http::WebhookSink;
use eventbus::prelude::*;
use eventbus::{Envelope, EventRecord};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use order::order;

/// Tries at once per endpoint, on both sides.
const CONCURRENCY: usize = 4;

/// Starts the receiver; its base URL and its count of requests.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let app = Router::new().route(
        "/hook/{endpoint}",
        post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { StatusCode::NO_CONTENT }
        }),
    );
    (format!("{}/hook", support::serve(app).await), received)
}

fn bench(c: &mut Criterion) {
    let runtime = support::runtime();
    let (base, received) = runtime.block_on(receiver());
    let body = Bytes::from(
        EventRecord::from_event(&order(), Envelope::generate())
            .unwrap()
            .to_json(),
    );

    let mut group = c.benchmark_group("webhooks");
    group.measurement_time(Duration::from_secs(8));
    for endpoints in [1_usize, 16] {
        let urls: Vec<String> = (0..endpoints).map(|at| format!("{base}/{at}")).collect();
        group.throughput(Throughput::Elements(endpoints as u64));

        let webhooks = WebhookSink::new();
        for url in &urls {
            webhooks.register("bench.order_placed", url).unwrap();
        }
        let bus = runtime.block_on(async {
            Bus::builder()
                .sink("webhooks", webhooks.clone())
                .build()
                .unwrap()
        });
        group.bench_function(BenchmarkId::new("bus", endpoints), |b| {
            b.iter_custom(|events| {
                // The producer runs on the runtime's workers, as the
                // baseline's do, not on the thread that waits.
                let bus = bus.clone();
                runtime.block_on(async {
                    let started = Instant::now();
                    tokio::spawn(async move {
                        for _ in 0..events {
                            bus.emit(order()).await.unwrap();
                        }
                        bus.flush().await;
                    })
                    .await
                    .unwrap();
                    started.elapsed()
                })
            });
        });
        let failed: u64 = webhooks.endpoints().iter().map(|stats| stats.failed).sum();
        assert_eq!(failed, 0, "no webhook may fail in the bench");

        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        group.bench_function(BenchmarkId::new("raw_hyper", endpoints), |b| {
            b.iter_custom(|events| {
                runtime.block_on(async {
                    let started = Instant::now();
                    let mut workers = Vec::new();
                    for url in &urls {
                        let next = Arc::new(AtomicU64::new(0));
                        for _ in 0..CONCURRENCY {
                            let (client, next, body) =
                                (client.clone(), Arc::clone(&next), body.clone());
                            let uri: axum::http::Uri = url.parse().unwrap();
                            workers.push(tokio::spawn(async move {
                                while next.fetch_add(1, Ordering::Relaxed) < events {
                                    let request = axum::http::Request::post(uri.clone())
                                        .header("content-type", "application/json")
                                        .body(Full::new(body.clone()))
                                        .unwrap();
                                    let response = client.request(request).await.unwrap();
                                    assert!(response.status().is_success());
                                }
                            }));
                        }
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
    println!(
        "the receiver answered {} requests",
        received.load(Ordering::Relaxed)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
