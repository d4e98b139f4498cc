//! The hand-written building blocks of eventbus side by side with the
//! crates that do the same job, in one run:
//!
//! - event ids: the bus's generator against `uuid`'s own `Uuid::now_v7`,
//!   on one thread and on two threads at once;
//! - the join `publish_async` awaits its handlers with, against
//!   `futures::stream::FuturesUnordered` (outputs put back in order) and
//!   `futures::future::join_all`, over the same boxed futures.
//!
//! Each join case enters the runtime once per batch of iterations and runs
//! the whole batch inside one `block_on`, timed the same way for every
//! side, so the cost of entering the runtime does not hide the joins.
//!
//! Run with `cargo bench --bench building_blocks`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use eventbus::BoxError;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::runtime::Runtime;

mod support;

use support::body;

fn event_ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("event id");
    group.bench_function("eventbus (hand-written)", |b| {
        b.iter(|| black_box(eventbus::__bench::event_id()));
    });
    group.bench_function("uuid now_v7", |b| {
        b.iter(|| black_box(uuid::Uuid::now_v7()));
    });
    // The floor both pay: one read of the clock.
    group.bench_function("the clock alone (SystemTime::now)", |b| {
        b.iter(|| black_box(std::time::SystemTime::now()));
    });
    group.finish();

    // `now_v7` keeps its order through one context behind a mutex, which
    // threads making ids at once share.
    let mut group = c.benchmark_group("event id/2 threads at once");
    group.bench_function("eventbus (hand-written)", |b| {
        b.iter_custom(|iterations| on_two_threads(iterations, eventbus::__bench::event_id));
    });
    group.bench_function("uuid now_v7", |b| {
        b.iter_custom(|iterations| on_two_threads(iterations, uuid::Uuid::now_v7));
    });
    group.finish();
}

/// The time two threads take to make `iterations` ids each, started
/// together: the time per id as each thread sees it.
fn on_two_threads(iterations: u64, make: fn() -> uuid::Uuid) -> Duration {
    let start = Barrier::new(2);
    let run = || {
        start.wait();
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(make());
        }
        started.elapsed()
    };
    std::thread::scope(|scope| {
        let other = scope.spawn(run);
        let here = run();
        here.max(other.join().expect("the other thread makes its ids"))
    })
}

/// A handler's future as `publish_async` awaits it.
type Boxed = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

#[derive(Clone, Copy)]
enum Kind {
    /// Every future completes on its first poll.
    Ready,
    /// Every future yields once to the runtime, then completes.
    YieldOnce,
    /// The futures finish one at a time, last first: each waits for the
    /// next one's signal, so each wake-up finds one more future done and
    /// the others still waiting (handlers whose IO ends at different
    /// times).
    OneAtATime,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ready => "ready",
            Kind::YieldOnce => "yield once",
            Kind::OneAtATime => "one at a time",
        }
    }
}

fn futures(count: usize, kind: Kind) -> Vec<Boxed> {
    match kind {
        Kind::Ready => (0..count)
            .map(|n| {
                Box::pin(async move {
                    body(n as u64);
                    Ok(())
                }) as Boxed
            })
            .collect(),
        Kind::YieldOnce => (0..count)
            .map(|n| {
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    body(n as u64);
                    Ok(())
                }) as Boxed
            })
            .collect(),
        Kind::OneAtATime => {
            // Future `n` waits for future `n + 1`, and the last one for a
            // yield: they finish in reverse order of polling.
            let mut futures = Vec::with_capacity(count);
            let mut next: Option<tokio::sync::oneshot::Receiver<()>> = None;
            for n in (0..count).rev() {
                let (done, waiter) = tokio::sync::oneshot::channel();
                let wait = next.replace(waiter);
                futures.push(Box::pin(async move {
                    match wait {
                        Some(wait) => wait.await.map_err(BoxError::from)?,
                        None => tokio::task::yield_now().await,
                    }
                    body(n as u64);
                    let _ = done.send(());
                    Ok(())
                }) as Boxed);
            }
            futures.reverse();
            futures
        }
    }
}

/// `FuturesUnordered`, the outputs put back in the futures' order.
async fn futures_unordered(futures: Vec<Boxed>) -> Vec<Result<(), BoxError>> {
    let mut outputs: Vec<Option<Result<(), BoxError>>> = futures.iter().map(|_| None).collect();
    let mut running: FuturesUnordered<_> = futures
        .into_iter()
        .enumerate()
        .map(|(n, future)| future.map(move |output| (n, output)))
        .collect();
    while let Some((n, output)) = running.next().await {
        outputs[n] = Some(output);
    }
    outputs
        .into_iter()
        .map(|output| output.expect("every future finished"))
        .collect()
}

/// `iterations` joins of `count` fresh futures (boxing included), all in
/// one `block_on`.
fn joins<J, F, O>(runtime: &Runtime, iterations: u64, count: usize, kind: Kind, join: J) -> Duration
where
    J: Fn(Vec<Boxed>) -> F,
    F: Future<Output = O>,
    O: IntoIterator<Item = Result<(), BoxError>>,
{
    let started = Instant::now();
    runtime.block_on(async {
        for _ in 0..iterations {
            let outputs = join(futures(count, kind)).await;
            // Every output read, on every side.
            let read = outputs.into_iter().flatten().count();
            debug_assert_eq!(read, count);
            black_box(read);
        }
    });
    started.elapsed()
}

fn join(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    for kind in [Kind::Ready, Kind::YieldOnce, Kind::OneAtATime] {
        for count in [1, 10, 100] {
            let mut group = c.benchmark_group(format!("join/{count} futures, {}", kind.name()));
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(3));
            group.bench_function("eventbus JoinAll (hand-written)", |b| {
                b.iter_custom(|iterations| {
                    joins(
                        &runtime,
                        iterations,
                        count,
                        kind,
                        eventbus::__bench::join_all,
                    )
                });
            });
            group.bench_function("FuturesUnordered", |b| {
                b.iter_custom(|iterations| {
                    joins(&runtime, iterations, count, kind, futures_unordered)
                });
            });
            group.bench_function("futures::future::join_all", |b| {
                b.iter_custom(|iterations| {
                    joins(&runtime, iterations, count, kind, futures::future::join_all)
                });
            });
            group.finish();
        }
    }
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = event_ids, join
);
criterion_main!(benches);
