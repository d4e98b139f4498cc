//! Every handler of an event is called exactly once per publish, events are
//! routed by type (never by shape), and the report counts what ran.

use eventbus::prelude::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

// --- each handler once per publish ----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Shipped {
    parcel: u32,
}

static SHIPPED_LABEL: AtomicUsize = AtomicUsize::new(0);
static SHIPPED_MAIL: AtomicUsize = AtomicUsize::new(0);
static SHIPPED_LEDGER: AtomicUsize = AtomicUsize::new(0);

#[subscribe]
fn print_label(_: &Shipped) {
    SHIPPED_LABEL.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
fn send_mail(_: &Shipped) {
    SHIPPED_MAIL.fetch_add(1, Ordering::SeqCst);
}

#[subscribe]
fn update_ledger(_: &Shipped) -> Result<(), std::io::Error> {
    SHIPPED_LEDGER.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[test]
fn each_handler_runs_exactly_once_per_publish() {
    let bus = Bus::new();

    let report = bus.publish(Shipped { parcel: 1 });
    assert_eq!(report.handled(), 3);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert!(report.failures().is_empty());
    assert_eq!(report.event_name(), "Shipped");
    assert_eq!(SHIPPED_LABEL.load(Ordering::SeqCst), 1);
    assert_eq!(SHIPPED_MAIL.load(Ordering::SeqCst), 1);
    assert_eq!(SHIPPED_LEDGER.load(Ordering::SeqCst), 1);

    let report = bus.publish(Shipped { parcel: 2 });
    assert_eq!(report.handled(), 3);
    assert_eq!(SHIPPED_LABEL.load(Ordering::SeqCst), 2);
    assert_eq!(SHIPPED_MAIL.load(Ordering::SeqCst), 2);
    assert_eq!(SHIPPED_LEDGER.load(Ordering::SeqCst), 2);
}

// --- many publishes --------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Ticked {
    n: u64,
}

static TICKS: AtomicUsize = AtomicUsize::new(0);
static TICK_SUM: Mutex<u64> = Mutex::new(0);

#[subscribe]
fn count_tick(tick: &Ticked) {
    TICKS.fetch_add(1, Ordering::SeqCst);
    *TICK_SUM.lock().unwrap() += tick.n;
}

#[test]
fn a_thousand_publishes_give_a_thousand_deliveries() {
    let bus = Bus::new();
    let mut handled = 0;
    for n in 1..=1000 {
        let report = bus.publish(Ticked { n });
        assert!(report.is_ok());
        handled += report.handled();
    }
    assert_eq!(handled, 1000);
    assert_eq!(TICKS.load(Ordering::SeqCst), 1000);
    // Each event arrived with its own payload: 1 + 2 + ... + 1000.
    assert_eq!(*TICK_SUM.lock().unwrap(), 500_500);
}

// --- routing by type --------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Celsius {
    degrees: i32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Fahrenheit {
    degrees: i32,
}

static CELSIUS_SEEN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static FAHRENHEIT_SEEN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

#[subscribe]
fn on_celsius(reading: &Celsius) {
    CELSIUS_SEEN.lock().unwrap().push(reading.degrees);
}

#[subscribe]
fn on_fahrenheit(reading: &Fahrenheit) {
    FAHRENHEIT_SEEN.lock().unwrap().push(reading.degrees);
}

#[test]
fn types_with_equal_fields_are_routed_separately() {
    let bus = Bus::new();
    assert_eq!(bus.publish(Celsius { degrees: 21 }).handled(), 1);
    assert_eq!(bus.publish(Fahrenheit { degrees: 70 }).handled(), 1);
    assert_eq!(bus.publish(Celsius { degrees: -4 }).handled(), 1);

    assert_eq!(*CELSIUS_SEEN.lock().unwrap(), vec![21, -4]);
    assert_eq!(*FAHRENHEIT_SEEN.lock().unwrap(), vec![70]);
}

// --- no handler --------------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Unwatched {
    id: u32,
}

#[test]
fn an_event_without_handlers_is_dead_and_ok() {
    let report = Bus::new().publish(Unwatched { id: 9 });
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(report.is_ok());
    assert!(report.failures().is_empty());
    assert_eq!(report.event_name(), "Unwatched");
    assert!(report.into_result().is_ok());
}
