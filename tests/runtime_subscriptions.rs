//! Handlers added at run time with `Bus::subscribe`: they run after the
//! link-time handlers, in subscription order; dropping the `Subscription`
//! removes them, `detach()` keeps them; they belong to one bus and its
//! clones.

use eventbus::prelude::*;
use eventbus::{FailureKind, HandlerKind};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A shared log of who ran, for closures to push to.
fn log() -> Arc<Mutex<Vec<&'static str>>> {
    Arc::new(Mutex::new(Vec::new()))
}

// --- order and drop -------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.staged")]
struct Staged;

static STAGED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = -100)]
fn staged_link_time(_: &Staged) {
    STAGED.lock().unwrap().push("link");
}

fn staged(name: &'static str) -> impl Fn(&Staged) + Send + Sync + 'static {
    move |_: &Staged| STAGED.lock().unwrap().push(name)
}

fn take_staged() -> Vec<&'static str> {
    std::mem::take(&mut *STAGED.lock().unwrap())
}

#[test]
fn runtime_subscriptions_run_after_link_time_handlers_in_subscription_order() {
    let bus = Bus::new();
    let first = bus.subscribe(staged("first"));
    let second = bus.subscribe(staged("second"));
    let third = bus.subscribe(staged("third"));

    let report = bus.publish(Staged);
    assert_eq!(report.handled(), 4);
    assert!(report.is_ok());
    assert_eq!(take_staged(), vec!["link", "first", "second", "third"]);

    // Dropping unsubscribes at once; the others keep their order.
    drop(second);
    let report = bus.publish(Staged);
    assert_eq!(report.handled(), 3);
    assert_eq!(take_staged(), vec!["link", "first", "third"]);

    // A new subscription goes after the ones still there.
    let fourth = bus.subscribe(staged("fourth"));
    let report = bus.publish(Staged);
    assert_eq!(report.handled(), 4);
    assert_eq!(take_staged(), vec!["link", "first", "third", "fourth"]);

    drop(first);
    drop(third);
    drop(fourth);
    let report = bus.publish(Staged);
    assert_eq!(report.handled(), 1);
    assert_eq!(take_staged(), vec!["link"]);
}

// --- the link-time handler runs before, whatever its priority --------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.interleaved")]
struct Interleaved;

static INTERLEAVED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = -2_000_000_000)]
fn interleaved_lowest(_: &Interleaved) {
    INTERLEAVED.lock().unwrap().push("link-lowest");
}

#[subscribe(priority = 7)]
fn interleaved_high(_: &Interleaved) {
    INTERLEAVED.lock().unwrap().push("link-high");
}

#[test]
fn even_the_lowest_priority_link_time_handler_runs_before_runtime_ones() {
    let bus = Bus::new();
    let runtime = bus.subscribe(|_: &Interleaved| INTERLEAVED.lock().unwrap().push("runtime"));
    let report = bus.publish(Interleaved);
    assert_eq!(report.handled(), 3);
    assert_eq!(
        *INTERLEAVED.lock().unwrap(),
        vec!["link-high", "link-lowest", "runtime"]
    );
    drop(runtime);
}

// --- detach ------------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.detached")]
struct Detached {
    n: u32,
}

#[test]
fn detach_keeps_the_handler_for_the_bus_lifetime() {
    let bus = Bus::new();
    let sum = Arc::new(AtomicUsize::new(0));
    {
        let sum = Arc::clone(&sum);
        bus.subscribe(move |event: &Detached| {
            sum.fetch_add(event.n as usize, Ordering::SeqCst);
        })
        .detach();
    }
    assert_eq!(bus.publish(Detached { n: 3 }).handled(), 1);
    assert_eq!(bus.publish(Detached { n: 4 }).handled(), 1);
    assert_eq!(sum.load(Ordering::SeqCst), 7);
}

// --- a subscription dropped at once ---------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.ignored")]
struct Ignored;

#[test]
fn a_subscription_dropped_at_once_never_runs() {
    let bus = Bus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let subscription = bus.subscribe(move |_: &Ignored| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    drop(subscription);
    let report = bus.publish(Ignored);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

// --- errors ------------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.refused")]
struct Refused {
    code: u16,
}

#[test]
fn a_closure_returning_err_is_a_failure() {
    let bus = Bus::new();
    let line = line!() + 1;
    let failing = bus.subscribe(|event: &Refused| -> Result<(), String> {
        Err(format!("code {} refused", event.code))
    });
    let ran = log();
    let after = {
        let ran = Arc::clone(&ran);
        bus.subscribe(move |_: &Refused| ran.lock().unwrap().push("after"))
    };

    let report = bus.publish(Refused { code: 503 });
    assert_eq!(report.handled(), 2);
    assert!(!report.is_ok());
    assert_eq!(*ran.lock().unwrap(), vec!["after"]);
    assert_eq!(report.failures().len(), 1);

    let failure = &report.failures()[0];
    let name = "runtime_subscriptions::a_closure_returning_err_is_a_failure::{{closure}}";
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.message(), "code 503 refused");
    assert_eq!(failure.event_name(), "runtime.refused");
    assert_eq!(failure.attempts(), 1);
    let handler = failure.handler().expect("the failure names its handler");
    assert_eq!(handler.handler_name(), name);
    assert_eq!(handler.event_name(), "runtime.refused");
    assert_eq!(handler.priority(), 0);
    assert_eq!(handler.kind(), HandlerKind::Sync);
    assert_eq!(
        handler.location().to_string(),
        format!("tests/runtime_subscriptions.rs:{line}")
    );
    assert_eq!(handler, failing.info());
    assert_eq!(
        failure.to_string(),
        format!("handler {name} returned an error on runtime.refused: code 503 refused")
    );
    drop(failing);
    drop(after);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.panicked")]
struct Panicked;

#[test]
fn a_panicking_closure_is_a_failure_and_stays_subscribed() {
    let bus = Bus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // A closure that only panics returns `!`: name the return type.
    let subscription = bus.subscribe::<Panicked, _, ()>(move |_: &Panicked| {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("closure gave up");
    });
    for _ in 0..2 {
        let report = bus.publish(Panicked);
        assert_eq!(report.handled(), 1);
        assert_eq!(report.failures().len(), 1);
        assert_eq!(report.failures()[0].kind(), FailureKind::Panic);
        assert_eq!(report.failures()[0].message(), "closure gave up");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    drop(subscription);
}

// --- buses and clones --------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.scoped")]
struct Scoped;

#[test]
fn a_subscription_belongs_to_its_bus_and_its_clones() {
    let bus = Bus::new();
    let other = Bus::new();
    let clone = bus.clone();
    let ran = log();
    let on_bus = {
        let ran = Arc::clone(&ran);
        bus.subscribe(move |_: &Scoped| ran.lock().unwrap().push("on bus"))
    };
    let on_clone = {
        let ran = Arc::clone(&ran);
        clone.subscribe(move |_: &Scoped| ran.lock().unwrap().push("on clone"))
    };

    let report = other.publish(Scoped);
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(ran.lock().unwrap().is_empty());
    let scoped = |bus: &Bus| {
        bus.handlers()
            .iter()
            .filter(|info| info.event_name() == "runtime.scoped")
            .count()
    };
    assert_eq!(scoped(&other), 0);
    assert_eq!(scoped(&bus), 2);
    assert_eq!(scoped(&clone), 2);

    assert_eq!(bus.publish(Scoped).handled(), 2);
    assert_eq!(clone.publish(Scoped).handled(), 2);
    assert_eq!(
        *ran.lock().unwrap(),
        vec!["on bus", "on clone", "on bus", "on clone"]
    );

    // Dropping through one handle is seen through the other.
    drop(on_bus);
    ran.lock().unwrap().clear();
    assert_eq!(clone.publish(Scoped).handled(), 1);
    assert_eq!(*ran.lock().unwrap(), vec!["on clone"]);
    drop(on_clone);
    assert_eq!(bus.publish(Scoped).handled(), 0);
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.outlived")]
struct Outlived;

#[test]
fn a_subscription_may_outlive_its_bus() {
    let bus = Bus::new();
    let subscription = bus.subscribe(|_: &Outlived| {});
    assert_eq!(bus.publish(Outlived).handled(), 1);
    drop(bus);
    // Nothing to remove it from any more; dropping it is still fine.
    drop(subscription);
}

// --- handlers() ------------------------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "runtime.listed")]
struct Listed;

#[subscribe]
fn listed_link_time(_: &Listed) {}

fn listed_closure() -> impl Fn(&Listed) + Send + Sync + 'static {
    |_: &Listed| {}
}

#[test]
fn handlers_lists_runtime_subscriptions_at_the_end() {
    let bus = Bus::new();
    let link_time_count = bus.handlers().len();
    let first_line = line!() + 1;
    let first = bus.subscribe(listed_closure());
    let second_line = line!() + 1;
    let second = bus.subscribe(|_: &Listed| {});

    let all = bus.handlers();
    assert_eq!(all.len(), link_time_count + 2);
    let tail: Vec<(&str, &str, String)> = all[link_time_count..]
        .iter()
        .map(|info| {
            (
                info.event_name(),
                info.handler_name(),
                info.location().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        vec![
            (
                "runtime.listed",
                "runtime_subscriptions::listed_closure::{{closure}}",
                format!("tests/runtime_subscriptions.rs:{first_line}"),
            ),
            (
                "runtime.listed",
                "runtime_subscriptions::handlers_lists_runtime_subscriptions_at_the_end::{{closure}}",
                format!("tests/runtime_subscriptions.rs:{second_line}"),
            ),
        ]
    );

    let listed: Vec<&str> = all
        .iter()
        .filter(|info| info.event_name() == "runtime.listed")
        .map(HandlerInfo::handler_name)
        .collect();
    assert_eq!(
        listed,
        vec![
            "runtime_subscriptions::listed_link_time",
            "runtime_subscriptions::listed_closure::{{closure}}",
            "runtime_subscriptions::handlers_lists_runtime_subscriptions_at_the_end::{{closure}}",
        ]
    );

    drop(first);
    drop(second);
    assert_eq!(bus.handlers().len(), link_time_count);
}
