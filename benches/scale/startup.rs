//! `Bus::new()` with thousands of link-time handlers, and `publish` to an
//! event with one handler among them. Run with `cargo bench --workspace`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use eventbus::Bus;
use eventbus_scale::Probe;

fn startup(c: &mut Criterion) {
    // The first bus also resolves the link-time registry, once per
    // process: time it on its own.
    let started = Instant::now();
    let bus = Bus::new();
    let first = started.elapsed();
    let handlers = bus.handlers().len();
    println!("first Bus::new() with {handlers} handlers: {first:?}");

    let mut group = c.benchmark_group(format!("startup/{handlers} handlers"));
    group.bench_function("Bus::new()", |b| b.iter(|| black_box(Bus::new())));
    group.bench_function("publish to 1 handler among them", |b| {
        b.iter(|| black_box(bus.publish(Probe(black_box(1))).handled()));
    });
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = startup
);
criterion_main!(benches);
