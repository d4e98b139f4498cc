//! Throughput of the background queue: one producer `emit`s 1M events
//! to the bus's worker (`emit().await` from inside the runtime, and
//! `try_emit` from a plain thread that yields and tries again on `Full`),
//! against a `crossbeam-channel` bounded channel of the same capacity with
//! one consumer thread running the same handler body (`send`, and
//! `try_send` that yields and tries again on `Full`), and against a
//! bounded `tokio::sync::mpsc` channel of the same capacity drained by one
//! task on the same runtime as the bus's worker.
//!
//! Run with `cargo bench --bench emit`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventbus::prelude::*;
use eventbus::EmitErrorKind;

const EVENTS: u64 = 1_000_000;
const CAPACITY: usize = 1024;

mod support;

use support::body;

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Tick(u64);

#[subscribe]
fn on_tick(event: &Tick) {
    body(event.0);
}

/// A bus whose queue holds `CAPACITY` events, its worker on `runtime`.
fn bus(runtime: &tokio::runtime::Runtime) -> Bus {
    Bus::builder()
        .queue_capacity(CAPACITY)
        .runtime(runtime.handle().clone())
        .build()
        .expect("the bench's handlers need no state")
}

/// Emits `EVENTS` events from this thread and waits until the worker has
/// delivered them all.
fn emit_all(runtime: &tokio::runtime::Runtime) -> Duration {
    let bus = bus(runtime);
    let started = Instant::now();
    runtime.block_on(async {
        for n in 0..EVENTS {
            if bus.emit(Tick(n)).await.is_err() {
                unreachable!("the bus is running");
            }
        }
        bus.shutdown().await;
    });
    started.elapsed()
}

/// Emits `EVENTS` events with `try_emit` from this thread, which is not
/// one of the runtime's: on `Full` it yields and tries again. Then waits
/// until the worker has delivered them all.
fn try_emit_all(runtime: &tokio::runtime::Runtime) -> Duration {
    let bus = bus(runtime);
    let started = Instant::now();
    for n in 0..EVENTS {
        let mut event = Tick(n);
        while let Err(refused) = bus.try_emit(event) {
            assert_eq!(refused.kind(), EmitErrorKind::Full, "the bus is running");
            event = refused.into_inner();
            std::thread::yield_now();
        }
    }
    runtime.block_on(bus.shutdown());
    started.elapsed()
}

/// The same through a crossbeam channel: this thread sends (`send`, or
/// `try_send` that yields on `Full`), one thread receives and runs the
/// body.
fn crossbeam_all(blocking: bool) -> Duration {
    let (sender, receiver) = crossbeam_channel::bounded::<Tick>(CAPACITY);
    let started = Instant::now();
    let consumer = std::thread::spawn(move || {
        for event in receiver {
            body(event.0);
        }
    });
    for n in 0..EVENTS {
        if blocking {
            if sender.send(Tick(n)).is_err() {
                unreachable!("the consumer runs until the channel closes");
            }
            continue;
        }
        let mut event = Tick(n);
        while let Err(refused) = sender.try_send(event) {
            let crossbeam_channel::TrySendError::Full(back) = refused else {
                unreachable!("the consumer runs until the channel closes");
            };
            event = back;
            std::thread::yield_now();
        }
    }
    drop(sender);
    consumer.join().expect("the consumer ends");
    started.elapsed()
}

/// The same through a tokio channel: this thread sends from inside the
/// runtime, as `emit_all` does; one task on the runtime's worker thread
/// receives (`recv_many` up to the capacity, or `recv` one at a time) and
/// runs the body.
fn tokio_mpsc_all(runtime: &tokio::runtime::Runtime, many: bool) -> Duration {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Tick>(CAPACITY);
    let started = Instant::now();
    runtime.block_on(async {
        let consumer = tokio::spawn(async move {
            if many {
                let mut batch = Vec::with_capacity(CAPACITY);
                while receiver.recv_many(&mut batch, CAPACITY).await > 0 {
                    for event in batch.drain(..) {
                        body(event.0);
                    }
                }
            } else {
                while let Some(event) = receiver.recv().await {
                    body(event.0);
                }
            }
        });
        for n in 0..EVENTS {
            if sender.send(Tick(n)).await.is_err() {
                unreachable!("the consumer runs until the channel closes");
            }
        }
        drop(sender);
        consumer.await.expect("the consumer ends");
    });
    started.elapsed()
}

fn emit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a runtime for the worker");
    let mut group = c.benchmark_group("emit/1M events");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("eventbus emit", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| emit_all(&runtime)).sum());
    });
    group.bench_function("eventbus try_emit, plain thread", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| try_emit_all(&runtime)).sum());
    });
    group.bench_function("crossbeam-channel", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| crossbeam_all(true)).sum());
    });
    group.bench_function("crossbeam-channel try_send", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| crossbeam_all(false)).sum());
    });
    group.bench_function("tokio mpsc, recv_many", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| tokio_mpsc_all(&runtime, true))
                .sum()
        });
    });
    group.bench_function("tokio mpsc, recv", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| tokio_mpsc_all(&runtime, false))
                .sum()
        });
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = emit
);
criterion_main!(benches);
