//! `publish_async` to 1 and 10 async handlers on a current-thread runtime,
//! against `futures::future::join_all` and `FuturesUnordered` over boxed
//! futures with the same body. Each sample enters the runtime once and
//! times its whole batch of publishes inside, on every side alike.
//!
//! Run with `cargo bench --bench publish_async`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;

use criterion::{criterion_group, criterion_main, Criterion};
use eventbus::prelude::*;

mod support;

use support::{batch, body};

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct One(u64);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Ten(u64);

#[subscribe]
async fn one_handler(event: &One) {
    body(event.0);
}

macro_rules! ten_handlers {
    ($($name:ident)*) => {$(
        #[subscribe]
        async fn $name(event: &Ten) {
            body(event.0);
        }
    )*};
}
ten_handlers!(t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);

type BoxedFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The baseline's handlers: the same body in boxed futures that own the
/// shared event.
fn boxed_futures(count: usize, event: &std::sync::Arc<One>) -> Vec<BoxedFuture> {
    (0..count)
        .map(|_| {
            let event = std::sync::Arc::clone(event);
            Box::pin(async move { body(event.0) }) as BoxedFuture
        })
        .collect()
}

fn publish_async(c: &mut Criterion) {
    use futures::StreamExt;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let bus = Bus::new();
    for count in [1, 10] {
        let mut group = c.benchmark_group(format!("publish_async/{count} handler(s)"));
        group.bench_function("eventbus", |b| {
            b.iter_custom(|iterations| {
                batch(&runtime, iterations, || async {
                    let report = if count == 1 {
                        bus.publish_async(One(black_box(1))).await
                    } else {
                        bus.publish_async(Ten(black_box(1))).await
                    };
                    black_box(report.handled());
                })
            });
        });
        group.bench_function("join_all", |b| {
            b.iter_custom(|iterations| {
                batch(&runtime, iterations, || async {
                    let event = std::sync::Arc::new(One(black_box(1)));
                    futures::future::join_all(boxed_futures(count, &event)).await;
                })
            });
        });
        group.bench_function("FuturesUnordered", |b| {
            b.iter_custom(|iterations| {
                batch(&runtime, iterations, || async {
                    let event = std::sync::Arc::new(One(black_box(1)));
                    let mut running: futures::stream::FuturesUnordered<_> =
                        boxed_futures(count, &event).into_iter().collect();
                    while running.next().await.is_some() {}
                })
            });
        });
        group.finish();
    }
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = publish_async
);
criterion_main!(benches);
