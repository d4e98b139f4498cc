//! `publish` to sync handlers against the baselines it must beat: a loop
//! over boxed closures and a naive `HashMap<TypeId, Vec<Box<dyn Fn>>>` bus.
//!
//! Run with `cargo bench --bench publish`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use eventbus::prelude::*;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The handler body shared by every case.
#[inline(never)]
fn body(value: u64) {
    COUNTER.fetch_add(black_box(value), Ordering::Relaxed);
}

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct One(u64);

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Ten(u64);

#[subscribe]
fn one_handler(event: &One) {
    body(event.0);
}

macro_rules! ten_handlers {
    ($($name:ident)*) => {$(
        #[subscribe]
        fn $name(event: &Ten) {
            body(event.0);
        }
    )*};
}
ten_handlers!(t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);

type Closures = Vec<Box<dyn Fn(&One)>>;

fn closures(count: usize) -> Closures {
    (0..count)
        .map(|_| Box::new(|event: &One| body(event.0)) as Box<dyn Fn(&One)>)
        .collect()
}

type NaiveBus = HashMap<TypeId, Vec<Box<dyn Fn(&dyn Any)>>>;

fn naive_bus(count: usize) -> NaiveBus {
    let mut bus: NaiveBus = HashMap::new();
    for _ in 0..count {
        bus.entry(TypeId::of::<One>())
            .or_default()
            .push(Box::new(|event: &dyn Any| {
                if let Some(event) = event.downcast_ref::<One>() {
                    body(event.0);
                }
            }));
    }
    bus
}

fn naive_publish<E: Any>(bus: &NaiveBus, event: &E) {
    if let Some(handlers) = bus.get(&TypeId::of::<E>()) {
        for handler in handlers {
            handler(event);
        }
    }
}

fn publish(c: &mut Criterion) {
    let bus = Bus::new();
    for (count, name) in [(1, "1 handler"), (10, "10 handlers")] {
        let mut group = c.benchmark_group(format!("publish/{name}"));
        if count == 1 {
            group.bench_function("eventbus", |b| {
                b.iter(|| {
                    let report = bus.publish(One(black_box(1)));
                    black_box(report.handled())
                });
            });
        } else {
            group.bench_function("eventbus", |b| {
                b.iter(|| {
                    let report = bus.publish(Ten(black_box(1)));
                    black_box(report.handled())
                });
            });
        }
        let boxed = closures(count);
        group.bench_function("Vec<Box<dyn Fn>>", |b| {
            b.iter(|| {
                let event = One(black_box(1));
                for handler in &boxed {
                    handler(&event);
                }
            });
        });
        let naive = naive_bus(count);
        group.bench_function("naive HashMap bus", |b| {
            b.iter(|| naive_publish(&naive, &One(black_box(1))));
        });
        group.finish();
    }
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = publish
);
criterion_main!(benches);
