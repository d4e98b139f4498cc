//! `publish` to 1 and 10 sync handlers of one event type, side by side in
//! one run with peer crates doing the same work: one event in, every
//! handler runs once.
//!
//! - eventbus: `Bus::publish` to `#[subscribe]` handlers, as in the
//!   project's own `benches/publish.rs`;
//! - `Vec<Box<dyn Fn>>`: a loop over boxed closures, the floor;
//! - shrev: `EventChannel::single_write`, then every `ReaderId` reads;
//! - bevy_ecs messages: `Messages::write`, every `MessageCursor` reads,
//!   then `Messages::update` (the once-per-frame swap that keeps the
//!   buffers from growing);
//! - bevy_ecs observers: `World::trigger` to `World::add_observer`s;
//! - event-listener-primitives: `Bag::call_simple` over `Arc<dyn Fn>`s;
//! - jaeb: its only `publish` is async, so it is awaited to sync handlers
//!   on a current-thread runtime, each sample entering the runtime once
//!   and timing its whole batch inside (as `benches/publish_async.rs`
//!   does).
//!
//! Every handler runs the project's bench body, inlined into it: a relaxed
//! load and store of a static counter. Run from this folder with
//! `cargo bench`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use bevy_ecs::message::{MessageCursor, Messages};
use bevy_ecs::observer::On;
use bevy_ecs::world::World;
use criterion::{criterion_group, criterion_main, Criterion};
use event_listener_primitives::{Bag, HandlerId};
use eventbus::prelude::*;
use shrev::{EventChannel, ReaderId};

// The same handler body as the project's own benches.
#[path = "../../support/mod.rs"]
mod support;

use support::{batch, body};

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
struct One(u64);

#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
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

/// The event of every peer: each registers `count` handlers of it.
#[derive(Clone, bevy_ecs::message::Message, bevy_ecs::event::Event)]
struct Ping(u64);

/// The baseline: a loop over boxed closures.
type Closures = Vec<Box<dyn Fn(&Ping)>>;

/// event-listener-primitives' bag of handlers taking `&Ping`.
type Handlers = Bag<Arc<dyn Fn(&Ping) + Send + Sync>, Ping>;

/// A jaeb bus with `count` sync handlers of `Ping`, and their
/// subscriptions, kept for as long as the bus is measured.
fn jaeb_bus(
    runtime: &tokio::runtime::Runtime,
    count: usize,
) -> (jaeb::EventBus, Vec<jaeb::Subscription>) {
    runtime.block_on(async {
        let bus = jaeb::EventBus::builder()
            .build()
            .await
            .expect("a jaeb bus with no handlers builds");
        let mut subscriptions = Vec::with_capacity(count);
        for _ in 0..count {
            let subscription = bus
                .subscribe::<Ping, _, _>(|event: &Ping, _: &jaeb::EventBus| {
                    body(event.0);
                    Ok(())
                })
                .await
                .expect("the bus is running");
            subscriptions.push(subscription);
        }
        (bus, subscriptions)
    })
}

fn publish_to(c: &mut Criterion, runtime: &tokio::runtime::Runtime, count: usize) {
    let mut group = c.benchmark_group(format!("peers/{count} handler(s)"));

    let bus = Bus::new();
    group.bench_function("eventbus", |b| {
        b.iter(|| {
            let report = if count == 1 {
                bus.publish(One(black_box(1)))
            } else {
                bus.publish(Ten(black_box(1)))
            };
            black_box(report.handled())
        });
    });

    let boxed: Closures = (0..count)
        .map(|_| Box::new(|event: &Ping| body(event.0)) as Box<dyn Fn(&Ping)>)
        .collect();
    group.bench_function("Vec<Box<dyn Fn>>", |b| {
        b.iter(|| {
            let event = Ping(black_box(1));
            for handler in &boxed {
                handler(&event);
            }
        });
    });

    let mut channel = EventChannel::<Ping>::new();
    let mut readers: Vec<ReaderId<Ping>> = (0..count).map(|_| channel.register_reader()).collect();
    group.bench_function("shrev", |b| {
        b.iter(|| {
            channel.single_write(Ping(black_box(1)));
            for reader in &mut readers {
                for event in channel.read(reader) {
                    body(event.0);
                }
            }
        });
    });

    let mut messages = Messages::<Ping>::default();
    let mut cursors: Vec<MessageCursor<Ping>> = (0..count).map(|_| messages.get_cursor()).collect();
    group.bench_function("bevy_ecs messages", |b| {
        b.iter(|| {
            messages.write(Ping(black_box(1)));
            for cursor in &mut cursors {
                for event in cursor.read(&messages) {
                    body(event.0);
                }
            }
            messages.update();
        });
    });

    let mut world = World::new();
    for _ in 0..count {
        world.add_observer(|event: On<Ping>| body(event.event().0));
    }
    group.bench_function("bevy_ecs observers", |b| {
        b.iter(|| world.trigger(Ping(black_box(1))));
    });

    let bag = Handlers::default();
    let handler_ids: Vec<HandlerId> = (0..count)
        .map(|_| bag.add(Arc::new(|event: &Ping| body(event.0))))
        .collect();
    group.bench_function("event-listener-primitives", |b| {
        b.iter(|| bag.call_simple(&Ping(black_box(1))));
    });
    drop(handler_ids);

    let (jaeb, subscriptions) = jaeb_bus(runtime, count);
    group.bench_function("jaeb (async publish)", |b| {
        b.iter_custom(|iterations| {
            batch(runtime, iterations, || async {
                jaeb.publish(Ping(black_box(1)))
                    .await
                    .expect("the bus is running");
            })
        });
    });
    drop(subscriptions);

    group.finish();
}

fn publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    publish_to(c, &runtime, 1);
    publish_to(c, &runtime, 10);
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = publish
);
criterion_main!(benches);
