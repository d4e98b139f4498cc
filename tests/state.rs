//! `State<T>`: a value given to `BusBuilder::state` reaches every handler
//! that takes it, sync or async, as one shared value.
//!
//! Every handler of this binary takes states given by `bus()`, so every bus
//! here is built through it (a missing state fails the build: see
//! `tests/state_missing.rs`).

use eventbus::prelude::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, PartialEq, Eq)]
struct Greeting {
    salutation: &'static str,
}

#[derive(Debug)]
struct Visits {
    count: AtomicUsize,
}

fn bus_with(salutation: &'static str) -> Bus {
    Bus::builder()
        .state(Greeting { salutation })
        .state(Visits {
            count: AtomicUsize::new(0),
        })
        .build()
        .expect("every state is given")
}

fn bus() -> Bus {
    bus_with("Hello")
}

// --- sync handlers -----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Welcome {
    name: String,
}

/// (text, address of the shared `Greeting`) per call.
static WELCOMES: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

#[subscribe]
fn welcome(user: &Welcome, greeting: State<Greeting>, visits: State<Visits>) {
    let visit = visits.count.fetch_add(1, Ordering::SeqCst) + 1;
    WELCOMES.lock().unwrap().push((
        format!("{}, {} (visit {visit})", greeting.salutation, user.name),
        Arc::as_ptr(greeting.arc()) as usize,
    ));
}

#[test]
fn a_sync_handler_gets_the_state_given_to_the_builder() {
    let bus = bus();
    let shared = bus.state::<Greeting>().expect("the bus holds the state");
    assert_eq!(
        *shared,
        Greeting {
            salutation: "Hello"
        }
    );

    let first = bus.publish(Welcome { name: "Ada".into() });
    let second = bus.publish(Welcome {
        name: "Grace".into(),
    });

    assert_eq!(first.handled(), 1);
    assert!(first.is_ok());
    assert_eq!(second.handled(), 1);
    assert!(second.is_ok());
    let address = Arc::as_ptr(shared.arc()) as usize;
    // One value, shared by every call: the counter inside it carries over.
    assert_eq!(
        *WELCOMES.lock().unwrap(),
        vec![
            ("Hello, Ada (visit 1)".to_owned(), address),
            ("Hello, Grace (visit 2)".to_owned(), address),
        ]
    );
    assert_eq!(
        bus.state::<Visits>().unwrap().count.load(Ordering::SeqCst),
        2
    );
}

// --- async handlers ----------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Farewell {
    name: String,
}

static FAREWELLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
async fn farewell(user: &Farewell, greeting: State<Greeting>, ctx: &Context) {
    tokio::task::yield_now().await;
    let from_context = ctx
        .state::<Greeting>()
        .expect("the context reaches the state");
    assert!(Arc::ptr_eq(from_context.arc(), greeting.arc()));
    FAREWELLS.lock().unwrap().push(format!(
        "{} and goodbye, {}",
        greeting.salutation, user.name
    ));
}

#[tokio::test]
async fn an_async_handler_gets_the_state_given_to_the_builder() {
    let bus = bus_with("Farewell");

    let report = bus.publish_async(Farewell { name: "Ada".into() }).await;
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());

    let report = bus.publish(Farewell {
        name: "Grace".into(),
    });
    assert_eq!(report.scheduled(), 1);
    bus.idle().await;

    assert_eq!(
        *FAREWELLS.lock().unwrap(),
        vec!["Farewell and goodbye, Ada", "Farewell and goodbye, Grace"]
    );
}

// --- one value per type: the last one given wins -------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Greet;

static GREETS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe]
fn greet(_: &Greet, greeting: State<Greeting>) {
    GREETS.lock().unwrap().push(greeting.salutation);
}

#[test]
fn the_last_state_given_for_a_type_wins() {
    let bus = Bus::builder()
        .state(Greeting { salutation: "Hi" })
        .state(Visits {
            count: AtomicUsize::new(0),
        })
        .state(Greeting {
            salutation: "Howdy",
        })
        .build()
        .unwrap();

    assert!(bus.publish(Greet).is_ok());

    assert_eq!(*GREETS.lock().unwrap(), vec!["Howdy"]);
    assert!(bus.state::<String>().is_none());
    assert_eq!(
        format!("{:?}", bus.state::<Greeting>().unwrap()),
        "State(Greeting { salutation: \"Howdy\" })"
    );
}
