//! `publish` to sync handlers, side by side with the baselines it is
//! measured against, in one run: a direct call, a loop over boxed closures,
//! a naive `HashMap<TypeId, Vec<Box<dyn Fn>>>` bus (plain and behind an
//! `RwLock`), and `tokio::sync::broadcast`. Then `publish` with a run-time
//! subscription present, and while another thread subscribes and
//! unsubscribes in a loop; and to one handler that takes `State<T>` or
//! `&Context`.
//!
//! Every case runs the same handler body, inlined into the handler and
//! into each baseline alike: a relaxed load and store of a static counter.
//! The 10-handler baselines run over the same event type as the bus.
//! Run with `cargo bench --bench publish`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use eventbus::prelude::*;

mod support;

use support::body;

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct One(u64);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Ten(u64);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Stated(u64);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Contextual(u64);

/// The state the `Stated` handler takes.
struct Step(u64);

/// Has no link-time handler: only run-time subscriptions.
#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct Subscribed(u64);

#[subscribe]
fn one_handler(event: &One) {
    body(event.0);
}

#[subscribe]
fn stated_handler(event: &Stated, step: State<Step>) {
    body(event.0 + step.0);
}

#[subscribe]
fn contextual_handler(event: &Contextual, ctx: &Context) {
    body(event.0 + u64::from(ctx.depth()));
}

/// Every bus of this bench: the `Stated` handler needs its state.
fn bus() -> Bus {
    Bus::builder()
        .state(Step(0))
        .build()
        .expect("the state is given")
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

/// The events of the 1- and 10-handler cases, for the baselines.
trait Payload: Any + Clone + Send + Sync {
    fn new(value: u64) -> Self;
    fn value(&self) -> u64;
}

macro_rules! payload {
    ($($event:ident)*) => {$(
        impl Payload for $event {
            fn new(value: u64) -> Self {
                Self(value)
            }
            fn value(&self) -> u64 {
                self.0
            }
        }
    )*};
}
payload!(One Ten);

type Closures<E> = Vec<Box<dyn Fn(&E)>>;

fn closures<E: Payload>(count: usize) -> Closures<E> {
    (0..count)
        .map(|_| Box::new(|event: &E| body(event.value())) as Box<dyn Fn(&E)>)
        .collect()
}

type NaiveBus = HashMap<TypeId, Vec<Box<dyn Fn(&dyn Any) + Send + Sync>>>;

fn naive_bus<E: Payload>(count: usize) -> NaiveBus {
    let mut bus: NaiveBus = HashMap::new();
    for _ in 0..count {
        bus.entry(TypeId::of::<E>())
            .or_default()
            .push(Box::new(|event: &dyn Any| {
                if let Some(event) = event.downcast_ref::<E>() {
                    body(event.value());
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

fn bench_eventbus<E: Event>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    bus: &Bus,
    make: impl Fn(u64) -> E,
) {
    group.bench_function(name, |b| {
        b.iter(|| {
            let report = bus.publish(make(black_box(1)));
            black_box(report.handled())
        });
    });
}

/// The bus and every baseline with `count` handlers of `E`.
fn publish_to<E: Event + Payload>(c: &mut Criterion, bus: &Bus, count: usize) {
    let mut group = c.benchmark_group(format!("publish/{count} handler(s)"));
    bench_eventbus(&mut group, "eventbus", bus, E::new);
    if count == 1 {
        group.bench_function("direct call", |b| {
            b.iter(|| {
                let event = E::new(black_box(1));
                body(event.value());
            });
        });
    }
    let boxed = closures::<E>(count);
    group.bench_function("Vec<Box<dyn Fn>>", |b| {
        b.iter(|| {
            let event = E::new(black_box(1));
            for handler in &boxed {
                handler(&event);
            }
        });
    });
    let naive = naive_bus::<E>(count);
    group.bench_function("naive HashMap bus", |b| {
        b.iter(|| naive_publish(&naive, &E::new(black_box(1))));
    });
    let locked = RwLock::new(naive_bus::<E>(count));
    group.bench_function("naive HashMap bus + RwLock", |b| {
        b.iter(|| {
            let bus = locked
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            naive_publish(&bus, &E::new(black_box(1)));
        });
    });
    let (sender, _) = tokio::sync::broadcast::channel::<E>(16);
    let mut receivers: Vec<_> = (0..count).map(|_| sender.subscribe()).collect();
    group.bench_function("tokio broadcast", |b| {
        b.iter(|| {
            let _ = sender.send(E::new(black_box(1)));
            for receiver in &mut receivers {
                if let Ok(event) = receiver.try_recv() {
                    body(event.value());
                }
            }
        });
    });
    group.finish();
}

fn publish(c: &mut Criterion) {
    let bus = bus();
    publish_to::<One>(c, &bus, 1);
    publish_to::<Ten>(c, &bus, 10);
}

fn runtime_subscriptions(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish/run-time subscription");
    let bus = bus();
    let subscription = bus.subscribe(|event: &Subscribed| body(event.0));
    bench_eventbus(&mut group, "one subscription", &bus, Subscribed);

    // Another thread subscribes and unsubscribes in a loop meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (bus, stop) = (bus.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let extra = bus.subscribe(|event: &Subscribed| body(event.0));
                drop(extra);
            }
        })
    };
    bench_eventbus(
        &mut group,
        "while another thread subscribes",
        &bus,
        Subscribed,
    );
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("the churn thread ends");
    drop(subscription);
    group.finish();
}

fn extractors(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish/1 handler taking");
    let bus = bus();
    bench_eventbus(&mut group, "State<T>", &bus, Stated);
    bench_eventbus(&mut group, "&Context", &bus, Contextual);
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = publish, runtime_subscriptions, extractors
);
criterion_main!(benches);
