//! Every scenario through every way into the bus: `publish`,
//! `publish_async` and `emit` deliver to the same handlers in the same
//! order, and report the same failures to `on_error`. The paths have fast
//! cases of their own (plain sync routes, plain async routes, the queue's
//! batches); this table keeps them in step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use eventbus::layer::{Call, Next};
use eventbus::prelude::*;
use eventbus::BoxError;

/// The ways an event gets into the bus.
#[derive(Debug, Clone, Copy)]
enum Path {
    Publish,
    PublishAsync,
    Emit,
}

const PATHS: [Path; 3] = [Path::Publish, Path::PublishAsync, Path::Emit];

/// What one path did: the handler calls, in order, and the failures
/// `on_error` saw, as `kind handler: message`.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    calls: Vec<String>,
    failures: Vec<String>,
}

/// Runs `event` through `path` on a bus built by `builder`, waits until
/// everything is done, and returns what the handlers logged in `calls`
/// and what `on_error` saw.
async fn run<E: Event + Clone>(
    path: Path,
    builder: BusBuilder,
    event: &E,
    calls: &Mutex<Vec<String>>,
    prepare: impl FnOnce(&Bus) -> Vec<Subscription>,
) -> Seen {
    calls.lock().unwrap().clear();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let hook = Arc::clone(&failures);
    let bus = builder
        .on_error(move |failure| {
            let handler = failure
                .handler()
                .map_or("-", eventbus::HandlerInfo::handler_name);
            hook.lock().unwrap().push(format!(
                "{:?} {handler}: {}",
                failure.kind(),
                failure.message()
            ));
        })
        .build()
        .unwrap();
    let subscriptions = prepare(&bus);
    match path {
        Path::Publish => drop(bus.publish(event.clone())),
        Path::PublishAsync => drop(bus.publish_async(event.clone()).await),
        Path::Emit => bus.emit(event.clone()).await.unwrap(),
    }
    bus.shutdown().await;
    drop(subscriptions);
    let failures = failures.lock().unwrap().clone();
    Seen {
        calls: calls.lock().unwrap().clone(),
        failures,
    }
}

/// Runs `event` through every path and checks each saw `expected`.
async fn every_path<E: Event + Clone>(
    event: E,
    calls: &Mutex<Vec<String>>,
    builder: impl Fn() -> BusBuilder,
    prepare: impl Fn(&Bus) -> Vec<Subscription>,
    expected: &Seen,
) {
    for path in PATHS {
        let seen = run(path, builder(), &event, calls, &prepare).await;
        assert_eq!(&seen, expected, "through {path:?}");
    }
}

fn log(calls: &Mutex<Vec<String>>, call: &str) {
    calls.lock().unwrap().push(call.to_owned());
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

// --- sync handlers, in priority order, one failing, one panicking -------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Mixed;

static MIXED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe(priority = 2)]
fn mixed_first(_: &Mixed) {
    log(&MIXED, "first");
}

#[subscribe(priority = 1)]
fn mixed_failing(_: &Mixed) -> Result<(), String> {
    log(&MIXED, "failing");
    Err("no stock".into())
}

#[subscribe]
fn mixed_panicking(_: &Mixed) {
    log(&MIXED, "panicking");
    panic!("index out of range");
}

#[subscribe(priority = -1)]
fn mixed_last(_: &Mixed) {
    log(&MIXED, "last");
}

#[tokio::test]
async fn sync_handlers_run_in_order_and_fail_alike_on_every_path() {
    every_path(
        Mixed,
        &MIXED,
        Bus::builder,
        |_| Vec::new(),
        &Seen {
            calls: strings(&["first", "failing", "panicking", "last"]),
            failures: strings(&[
                "Error delivery_paths::mixed_failing: no stock",
                "Panic delivery_paths::mixed_panicking: index out of range",
            ]),
        },
    )
    .await;
}

// --- async handlers beside sync ones -------------------------------------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Shipped;

static SHIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn shipped_sync(_: &Shipped) {
    log(&SHIPPED, "sync");
}

#[subscribe]
async fn shipped_async(_: &Shipped) -> Result<(), String> {
    tokio::task::yield_now().await;
    log(&SHIPPED, "async");
    Err("carrier down".into())
}

#[tokio::test]
async fn async_handlers_run_after_sync_ones_and_fail_alike_on_every_path() {
    every_path(
        Shipped,
        &SHIPPED,
        Bus::builder,
        |_| Vec::new(),
        &Seen {
            calls: strings(&["sync", "async"]),
            failures: strings(&["Error delivery_paths::shipped_async: carrier down"]),
        },
    )
    .await;
}

// --- follow-ups, breadth-first --------------------------------------------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Root;

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Leaf {
    n: u32,
}

static CHAIN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn root_publishes(_: &Root, ctx: &Context) {
    log(&CHAIN, "root");
    ctx.publish(Leaf { n: 1 });
    ctx.publish(Leaf { n: 2 });
}

#[subscribe]
fn root_second(_: &Root) {
    log(&CHAIN, "root second");
}

#[subscribe]
fn leaf(leaf: &Leaf) -> Result<(), String> {
    log(&CHAIN, &format!("leaf {}", leaf.n));
    if leaf.n == 2 {
        return Err("leaf 2 failed".into());
    }
    Ok(())
}

#[tokio::test]
async fn follow_ups_come_after_every_handler_of_their_cause_on_every_path() {
    every_path(
        Root,
        &CHAIN,
        Bus::builder,
        |_| Vec::new(),
        &Seen {
            calls: strings(&["root", "root second", "leaf 1", "leaf 2"]),
            failures: strings(&["Error delivery_paths::leaf: leaf 2 failed"]),
        },
    )
    .await;
}

// --- filters --------------------------------------------------------------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Parcel {
    size: u32,
}

static PARCELS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn is_large(parcel: &Parcel) -> bool {
    parcel.size > 10
}

#[subscribe(filter = is_large)]
fn large_only(_: &Parcel) {
    log(&PARCELS, "large");
}

#[subscribe]
fn any_size(_: &Parcel) {
    log(&PARCELS, "any");
}

#[tokio::test]
async fn filters_skip_alike_on_every_path() {
    every_path(
        Parcel { size: 3 },
        &PARCELS,
        Bus::builder,
        |_| Vec::new(),
        &Seen {
            calls: strings(&["any"]),
            failures: Vec::new(),
        },
    )
    .await;
    every_path(
        Parcel { size: 30 },
        &PARCELS,
        Bus::builder,
        |_| Vec::new(),
        &Seen {
            calls: strings(&["large", "any"]),
            failures: Vec::new(),
        },
    )
    .await;
}

// --- run-time subscriptions, sync and async ------------------------------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Noted;

static NOTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn noted_link(_: &Noted) {
    log(&NOTED, "link-time");
}

fn subscribe_noted(bus: &Bus) -> Vec<Subscription> {
    vec![
        bus.subscribe_named("sync sub", |_: &Noted| -> Result<(), String> {
            log(&NOTED, "sync sub");
            Err("sync sub failed".into())
        }),
        bus.subscribe_async_named("async sub", |_: Arc<Noted>| async {
            log(&NOTED, "async sub");
        }),
    ]
}

#[tokio::test]
async fn run_time_subscriptions_run_after_link_time_handlers_on_every_path() {
    every_path(
        Noted,
        &NOTED,
        Bus::builder,
        subscribe_noted,
        &Seen {
            calls: strings(&["link-time", "sync sub", "async sub"]),
            failures: strings(&["Error sync sub: sync sub failed"]),
        },
    )
    .await;
}

// --- a layer sees every call ------------------------------------------------------

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Layered;

static LAYERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn layered_sync(_: &Layered) {
    log(&LAYERED, "sync");
}

#[subscribe]
async fn layered_async(_: &Layered) {
    log(&LAYERED, "async");
}

/// Counts the calls it wraps.
struct Counting(Arc<AtomicUsize>);

impl Layer for Counting {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = call;
        next.run()
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: eventbus::layer::NextAsync<'a>,
    ) -> eventbus::layer::BoxFuture<'a, Result<(), BoxError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = call;
        next.run()
    }
}

#[tokio::test]
async fn a_layer_wraps_every_call_on_every_path() {
    for path in PATHS {
        let count = Arc::new(AtomicUsize::new(0));
        let layer = Counting(Arc::clone(&count));
        let seen = run(
            path,
            Bus::builder().layer(layer),
            &Layered,
            &LAYERED,
            |_| Vec::new(),
        )
        .await;
        assert_eq!(
            seen,
            Seen {
                calls: strings(&["sync", "async"]),
                failures: Vec::new(),
            },
            "through {path:?}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 2, "through {path:?}");
    }
}
