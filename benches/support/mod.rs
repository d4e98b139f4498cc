//! What every bench shares: the handler body, the same in every case and
//! in every baseline, inlined into each so no side pays for an extra call.

// Each bench uses a part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The handler body of every case: a counter increment the optimizer
/// cannot remove (a relaxed load and store, no locked instruction).
// Always: the point is that neither side pays for a call.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn body(value: u64) {
    COUNTER.store(
        COUNTER.load(Ordering::Relaxed).wrapping_add(value),
        Ordering::Relaxed,
    );
}

/// Runs `once` `iterations` times inside one entry into `runtime`, and
/// times the loop: the async benches' batch, the same on every side.
// The sync benches share this module and do not call it.
#[allow(dead_code)]
pub fn batch<F: std::future::Future<Output = ()>>(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    once: impl Fn() -> F,
) -> std::time::Duration {
    runtime.block_on(async {
        let started = std::time::Instant::now();
        for _ in 0..iterations {
            once().await;
        }
        started.elapsed()
    })
}

/// Serves `router` on a free port of 127.0.0.1 on the current runtime; its
/// base URL (`http://127.0.0.1:PORT`).
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// The runtime of the benches that serve or talk to a service: two
/// workers, I/O and timers on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the bench")
}
