//! Middleware: a `Layer` wraps every handler call, the first one added
//! outermost. Layers see the call (event, handler, envelope), may
//! short-circuit it, and a layer that panics fails its own call only.
//! They wrap catch-all handlers and run-time subscriptions too.
//!
//! The catch-all handler below is in the group "audit", so only the bus
//! of the test that selects that group sees it.

use eventbus::layer::{BoxFuture, Call, Next, NextAsync};
use eventbus::prelude::*;
use eventbus::{BoxError, FailureKind, Uuid};

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// What layers and handlers did, in order: shared by the layers of a bus
/// and the handlers of one test.
#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Notes each call entering and leaving it, under its own name.
struct Mark {
    name: &'static str,
    trace: Trace,
}

impl Layer for Mark {
    fn call(&self, _: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        self.trace.push(format!("enter {}", self.name));
        let result = next.run();
        self.trace.push(format!("exit {}", self.name));
        result
    }

    fn call_async<'a>(
        &'a self,
        _: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.trace.push(format!("enter {} (async)", self.name));
            let result = next.run().await;
            self.trace.push(format!("exit {} (async)", self.name));
            result
        })
    }
}

/// A bus with the layers A, B and C, added in that order.
fn marked(trace: &Trace) -> Bus {
    let mark = |name| Mark {
        name,
        trace: trace.clone(),
    };
    Bus::builder()
        .layer(mark("A"))
        .layer(mark("B"))
        .layer(mark("C"))
        .build()
        .unwrap()
}

// --- order: the first layer added is the outermost --------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Stacked;

static STACKED: LazyLock<Trace> = LazyLock::new(Trace::default);

#[subscribe]
fn stacked_handler(_: &Stacked) {
    STACKED.push("handler");
}

#[test]
fn the_first_layer_added_is_the_outermost_around_a_sync_handler() {
    let bus = marked(&STACKED);

    let report = bus.publish(Stacked);

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.handled(), 1);
    assert_eq!(
        STACKED.take(),
        ["enter A", "enter B", "enter C", "handler", "exit C", "exit B", "exit A"]
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct StackedAsync;

static STACKED_ASYNC: LazyLock<Trace> = LazyLock::new(Trace::default);

#[subscribe]
async fn stacked_async_handler(_: &StackedAsync) {
    STACKED_ASYNC.push("async handler starts");
    tokio::task::yield_now().await;
    STACKED_ASYNC.push("async handler ends");
}

#[subscribe]
fn stacked_sync_beside(_: &StackedAsync) {
    STACKED_ASYNC.push("sync handler");
}

#[tokio::test]
async fn the_first_layer_added_is_the_outermost_around_an_async_handler() {
    let bus = marked(&STACKED_ASYNC);

    let report = bus.publish_async(StackedAsync).await;

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.handled(), 2);
    // The sync handler runs inline through `Layer::call`, then the async
    // one is awaited through `Layer::call_async`.
    assert_eq!(
        STACKED_ASYNC.take(),
        [
            "enter A",
            "enter B",
            "enter C",
            "sync handler",
            "exit C",
            "exit B",
            "exit A",
            "enter A (async)",
            "enter B (async)",
            "enter C (async)",
            "async handler starts",
            "async handler ends",
            "exit C (async)",
            "exit B (async)",
            "exit A (async)",
        ]
    );
}

// --- what a layer sees of the call ------------------------------------------

/// What a layer saw of one call.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    event: &'static str,
    handler: &'static str,
    event_id: Uuid,
    /// The envelope's `id` and `correlation_id`, when there was one.
    envelope: Option<(Uuid, Uuid)>,
}

/// Notes what it sees of every call; asks for envelopes when told to.
struct Spy {
    seen: Arc<Mutex<Vec<Seen>>>,
    reads_envelope: bool,
}

impl Spy {
    fn new(reads_envelope: bool) -> (Self, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::default();
        let spy = Self {
            seen: Arc::clone(&seen),
            reads_envelope,
        };
        (spy, seen)
    }
}

impl Layer for Spy {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        self.seen.lock().unwrap().push(Seen {
            event: call.event_name(),
            handler: call.handler().handler_name(),
            event_id: call.event_id(),
            envelope: call
                .envelope()
                .map(|envelope| (envelope.id, envelope.correlation_id)),
        });
        next.run()
    }

    fn reads_envelope(&self) -> bool {
        self.reads_envelope
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Peeked;

#[subscribe]
fn peeked_plain(_: &Peeked) {}

#[test]
fn a_layer_sees_the_event_and_the_handler_and_no_envelope_unless_it_asks() {
    let (spy, seen) = Spy::new(false);
    let bus = Bus::builder().layer(spy).build().unwrap();

    let report = bus.publish(Peeked);

    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen {
            event: "Peeked",
            handler: "layers::peeked_plain",
            event_id: report.event_id(),
            envelope: None,
        }]
    );
}

#[test]
fn a_layer_that_reads_envelopes_gets_one_for_every_call() {
    let (spy, seen) = Spy::new(true);
    let bus = Bus::builder().layer(spy).build().unwrap();

    let report = bus.publish(Peeked);

    assert!(report.is_ok(), "{report:?}");
    // A root event is its own correlation.
    let root = report.event_id();
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen {
            event: "Peeked",
            handler: "layers::peeked_plain",
            event_id: root,
            envelope: Some((root, root)),
        }]
    );
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct PeekedWithContext;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct PeekedFollowUp;

#[subscribe]
fn peeked_with_context(_: &PeekedWithContext, ctx: &Context) {
    ctx.publish(PeekedFollowUp);
}

#[subscribe]
fn peeked_follow_up(_: &PeekedFollowUp, _: &Context) {}

#[test]
fn a_layer_sees_the_envelope_of_handlers_that_take_the_context() {
    let (spy, seen) = Spy::new(false);
    let bus = Bus::builder().layer(spy).build().unwrap();

    let report = bus.publish(PeekedWithContext);

    assert!(report.is_ok(), "{report:?}");
    let root = report.event_id();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0],
        Seen {
            event: "PeekedWithContext",
            handler: "layers::peeked_with_context",
            event_id: root,
            envelope: Some((root, root)),
        }
    );
    // The follow-up has an id of its own and the root's correlation.
    let (follow_up_id, correlation_id) = seen[1].envelope.expect("the follow-up has an envelope");
    assert_eq!(
        seen[1],
        Seen {
            event: "PeekedFollowUp",
            handler: "layers::peeked_follow_up",
            event_id: follow_up_id,
            envelope: Some((follow_up_id, root)),
        }
    );
    assert_eq!(correlation_id, root);
    assert_ne!(follow_up_id, root);
}

// --- a layer can short-circuit the call -------------------------------------

/// Stops calling the handler once it has failed `threshold` times.
struct CircuitBreaker {
    failures: AtomicU32,
    threshold: u32,
}

impl Layer for CircuitBreaker {
    fn call(&self, _: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        if self.failures.load(Ordering::SeqCst) >= self.threshold {
            return Err("circuit open".into());
        }
        let result = next.run();
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Charge;

static CHARGE_CALLS: AtomicU32 = AtomicU32::new(0);

#[subscribe]
fn charge_card(_: &Charge) -> Result<(), String> {
    CHARGE_CALLS.fetch_add(1, Ordering::SeqCst);
    Err("card gateway down".to_owned())
}

#[test]
fn a_layer_that_does_not_call_next_short_circuits_the_handler() {
    let bus = Bus::builder()
        .layer(CircuitBreaker {
            failures: AtomicU32::new(0),
            threshold: 2,
        })
        .build()
        .unwrap();

    let outcomes: Vec<(usize, FailureKind, String, u32)> = (0..5)
        .map(|_| {
            let report = bus.publish(Charge);
            assert_eq!(report.failures().len(), 1, "{report:?}");
            let failure = &report.failures()[0];
            assert_eq!(
                failure.handler().map(HandlerInfo::handler_name),
                Some("layers::charge_card")
            );
            (
                report.handled(),
                failure.kind(),
                failure.message().to_owned(),
                failure.attempts(),
            )
        })
        .collect();

    assert_eq!(CHARGE_CALLS.load(Ordering::SeqCst), 2);
    let failed = |message: &str, attempts| (1, FailureKind::Error, message.to_owned(), attempts);
    assert_eq!(
        outcomes,
        [
            failed("card gateway down", 1),
            failed("card gateway down", 1),
            // The handler was never entered.
            failed("circuit open", 0),
            failed("circuit open", 0),
            failed("circuit open", 0),
        ]
    );
    assert_eq!(
        bus.publish(Charge).failures()[0].to_string(),
        "handler layers::charge_card returned an error on Charge: circuit open"
    );
}

// --- a panicking layer fails its own call, not the bus ----------------------

/// Panics around the handler named `victim` before calling it, in
/// `call` and (eagerly, before making its future) in `call_async`.
struct Explode {
    victim: &'static str,
}

impl Layer for Explode {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let handler = call.handler().handler_name();
        assert!(handler != self.victim, "layer exploded around {handler}");
        next.run()
    }

    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let handler = call.handler().handler_name();
        assert!(handler != self.victim, "layer exploded around {handler}");
        next.run()
    }
}

/// Panics around the handler named `victim`, inside its future.
struct ExplodeLater {
    victim: &'static str,
}

impl Layer for ExplodeLater {
    fn call_async<'a>(
        &'a self,
        call: &'a Call<'a>,
        next: NextAsync<'a>,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let handler = call.handler().handler_name();
            assert!(handler != self.victim, "layer exploded around {handler}");
            next.run().await
        })
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Fragile;

static FRAGILE_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = 1)]
fn fragile_first(_: &Fragile) {
    FRAGILE_RAN.lock().unwrap().push("first");
}

#[subscribe(priority = 0)]
fn fragile_second(_: &Fragile) {
    FRAGILE_RAN.lock().unwrap().push("second");
}

#[test]
fn a_panicking_layer_is_a_failure_of_that_call_and_not_of_the_bus() {
    let bus = Bus::builder()
        .layer(Explode {
            victim: "layers::fragile_first",
        })
        .build()
        .unwrap();

    for _ in 0..2 {
        let report = bus.publish(Fragile);

        assert_eq!(report.handled(), 2);
        assert_eq!(report.failures().len(), 1, "{report:?}");
        let failure = &report.failures()[0];
        assert_eq!(failure.kind(), FailureKind::Panic);
        assert_eq!(
            failure.message(),
            "layer exploded around layers::fragile_first"
        );
        assert_eq!(failure.attempts(), 0);
        assert_eq!(
            failure.to_string(),
            "handler layers::fragile_first panicked on Fragile: \
             layer exploded around layers::fragile_first"
        );
    }
    // The handler the layer panicked around never ran; the other did.
    assert_eq!(*FRAGILE_RAN.lock().unwrap(), ["second", "second"]);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct FragileAsync;

// Three tests publish this event; none looks at what the handlers did,
// only at the reports.
#[subscribe(priority = 1)]
async fn fragile_async_first(_: &FragileAsync) {}

#[subscribe(priority = 0)]
async fn fragile_async_second(_: &FragileAsync) {}

/// The failure a panicking layer leaves in a report of `FragileAsync`.
fn assert_async_layer_panic(report: &Report) {
    assert_eq!(report.handled(), 2);
    assert_eq!(report.failures().len(), 1, "{report:?}");
    let failure = &report.failures()[0];
    assert_eq!(
        failure.handler().map(HandlerInfo::handler_name),
        Some("layers::fragile_async_first")
    );
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(
        failure.message(),
        "layer exploded around layers::fragile_async_first"
    );
    assert_eq!(failure.attempts(), 0);
}

#[tokio::test]
async fn a_layer_panicking_inside_its_async_future_fails_that_call_only() {
    let bus = Bus::builder()
        .layer(ExplodeLater {
            victim: "layers::fragile_async_first",
        })
        .build()
        .unwrap();

    let report = bus.publish_async(FragileAsync).await;

    assert_async_layer_panic(&report);
}

#[tokio::test]
async fn a_layer_panicking_in_call_async_before_making_its_future_fails_that_call_only() {
    let bus = Bus::builder()
        .layer(Explode {
            victim: "layers::fragile_async_first",
        })
        .build()
        .unwrap();

    let report = bus.publish_async(FragileAsync).await;

    assert_async_layer_panic(&report);
}

#[tokio::test]
async fn a_layer_panicking_in_call_async_of_a_spawned_call_is_reported_to_on_error() {
    /// A failure's handler, kind and message.
    type Reported = (Option<&'static str>, FailureKind, String);
    let failures: Arc<Mutex<Vec<Reported>>> = Arc::default();
    let sink = Arc::clone(&failures);
    let bus = Bus::builder()
        .layer(Explode {
            victim: "layers::fragile_async_first",
        })
        .on_error(move |failure| {
            sink.lock().unwrap().push((
                failure.handler().map(HandlerInfo::handler_name),
                failure.kind(),
                failure.message().to_owned(),
            ));
        })
        .build()
        .unwrap();

    let report = bus.publish(FragileAsync);
    assert_eq!(report.scheduled(), 2);
    tokio::time::timeout(Duration::from_secs(60), bus.idle())
        .await
        .expect("the bus goes idle");

    assert_eq!(
        *failures.lock().unwrap(),
        [(
            Some("layers::fragile_async_first"),
            FailureKind::Panic,
            "layer exploded around layers::fragile_async_first".to_owned()
        )]
    );
}

// --- layers wrap catch-alls and run-time subscriptions ----------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Audited;

static AUDITED: LazyLock<Trace> = LazyLock::new(Trace::default);

#[subscribe(priority = 1)]
fn audited_own(_: &Audited) {
    AUDITED.push("own handler");
}

#[subscribe(group = "audit")]
fn audit_every_event(event: &AnyEvent) {
    AUDITED.push(format!("catch-all sees {}", event.name()));
}

/// Notes the event and handler of each call entering and leaving it.
struct Named {
    trace: Trace,
}

impl Layer for Named {
    fn call(&self, call: &Call<'_>, next: Next<'_>) -> Result<(), BoxError> {
        let what = format!("{} {}", call.event_name(), call.handler().handler_name());
        self.trace.push(format!("enter {what}"));
        let result = next.run();
        self.trace.push(format!("exit {what}"));
        result
    }
}

#[test]
fn layers_wrap_catch_all_handlers_and_run_time_subscriptions() {
    let bus = Bus::builder()
        .groups(["audit"])
        .layer(Named {
            trace: AUDITED.clone(),
        })
        .build()
        .unwrap();
    let trace = AUDITED.clone();
    let subscription = bus.subscribe(move |_: &Audited| trace.push("run-time handler"));
    let runtime = subscription.info().handler_name();

    let report = bus.publish(Audited);

    assert!(report.is_ok(), "{report:?}");
    // The catch-all is not counted as a handler of the event.
    assert_eq!(report.handled(), 2);
    assert_eq!(
        AUDITED.take(),
        [
            "enter Audited layers::audited_own".to_owned(),
            "own handler".to_owned(),
            "exit Audited layers::audited_own".to_owned(),
            "enter Audited layers::audit_every_event".to_owned(),
            "catch-all sees Audited".to_owned(),
            "exit Audited layers::audit_every_event".to_owned(),
            format!("enter Audited {runtime}"),
            "run-time handler".to_owned(),
            format!("exit Audited {runtime}"),
        ]
    );
    drop(subscription);
}
