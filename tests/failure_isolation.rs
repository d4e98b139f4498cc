//! A handler that returns `Err` or panics does not stop the others; each
//! failure is reported, in run order, with the handler's name and the error.

use eventbus::prelude::*;
use eventbus::{FailureKind, PublishError};

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

/// The error type a handler returns, to be downcast from the report.
#[derive(Debug, PartialEq, Eq)]
struct LedgerFull {
    capacity: u32,
}

impl fmt::Display for LedgerFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ledger full at {} entries", self.capacity)
    }
}

impl std::error::Error for LedgerFull {}

// --- errors and panics are isolated -----------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "isolation.payment")]
struct Payment {
    cents: u64,
}

static PAYMENT_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = 3)]
fn before(_: &Payment) {
    PAYMENT_RAN.lock().unwrap().push("before");
}

#[subscribe(priority = 2)]
fn refuse(_: &Payment) -> Result<(), LedgerFull> {
    PAYMENT_RAN.lock().unwrap().push("refuse");
    Err(LedgerFull { capacity: 64 })
}

#[subscribe(priority = 1)]
fn explode(payment: &Payment) {
    PAYMENT_RAN.lock().unwrap().push("explode");
    panic!("cannot book {} cents", payment.cents);
}

#[subscribe(priority = 0)]
fn after(_: &Payment) {
    PAYMENT_RAN.lock().unwrap().push("after");
}

const ERROR_DISPLAY: &str =
    "handler failure_isolation::refuse returned an error on isolation.payment: ledger full at 64 entries";
const PANIC_DISPLAY: &str =
    "handler failure_isolation::explode panicked on isolation.payment: cannot book 250 cents";

#[test]
fn failures_are_reported_in_run_order_and_later_handlers_still_run() {
    let report = Bus::new().publish(Payment { cents: 250 });

    assert_eq!(
        *PAYMENT_RAN.lock().unwrap(),
        vec!["before", "refuse", "explode", "after"]
    );
    assert_eq!(report.handled(), 4);
    assert!(!report.is_ok());
    assert!(!report.is_dead());

    let failures = report.failures();
    assert_eq!(failures.len(), 2);

    let error = &failures[0];
    assert_eq!(error.kind(), FailureKind::Error);
    assert_eq!(error.kind().to_string(), "returned an error");
    assert_eq!(error.event_name(), "isolation.payment");
    assert_eq!(error.message(), "ledger full at 64 entries");
    assert_eq!(error.attempts(), 1);
    let handler = error.handler().expect("the failure names its handler");
    assert_eq!(handler.handler_name(), "failure_isolation::refuse");
    assert_eq!(handler.event_name(), "isolation.payment");
    assert_eq!(handler.priority(), 2);
    let cause = error.error().expect("an Err keeps the error");
    assert_eq!(
        cause.downcast_ref::<LedgerFull>(),
        Some(&LedgerFull { capacity: 64 })
    );
    assert_eq!(error.to_string(), ERROR_DISPLAY);
    assert_eq!(
        format!("{error:?}"),
        "HandlerFailure { handler: Some(\"failure_isolation::refuse\"), kind: Error, \
         event_name: \"isolation.payment\", message: \"ledger full at 64 entries\", attempts: 1 }"
    );

    let panic = &failures[1];
    assert_eq!(panic.kind(), FailureKind::Panic);
    assert_eq!(panic.kind().to_string(), "panicked");
    assert_eq!(panic.event_name(), "isolation.payment");
    assert_eq!(panic.message(), "cannot book 250 cents");
    assert_eq!(panic.attempts(), 1);
    assert_eq!(
        panic.handler().map(HandlerInfo::handler_name),
        Some("failure_isolation::explode")
    );
    assert!(panic.error().is_none());
    assert_eq!(panic.to_string(), PANIC_DISPLAY);
    assert_eq!(
        format!("{panic:?}"),
        "HandlerFailure { handler: Some(\"failure_isolation::explode\"), kind: Panic, \
         event_name: \"isolation.payment\", message: \"cannot book 250 cents\", attempts: 1 }"
    );

    let error = report.into_result().expect_err("two handlers failed");
    let expected = format!(
        "2 of the handlers of `isolation.payment` failed: {ERROR_DISPLAY}; {PANIC_DISPLAY}"
    );
    assert_eq!(error.to_string(), expected);
    // `Debug` says the same, for `unwrap()` users.
    assert_eq!(format!("{error:?}"), expected);
    match error {
        PublishError::HandlersFailed {
            event_name,
            failures,
        } => {
            assert_eq!(event_name, "isolation.payment");
            let kinds: Vec<FailureKind> = failures.iter().map(HandlerFailure::kind).collect();
            assert_eq!(kinds, vec![FailureKind::Error, FailureKind::Panic]);
        }
        other => panic!("expected HandlersFailed, got {other}"),
    }
}

// --- a panic with a payload that is not text ---------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "isolation.odd_panic")]
struct OddPanic;

#[subscribe]
fn panic_with_number(_: &OddPanic) {
    std::panic::panic_any(42_u8);
}

#[test]
fn a_panic_payload_that_is_not_text_is_described() {
    let report = Bus::new().publish(OddPanic);
    assert_eq!(report.handled(), 1);
    assert_eq!(report.failures().len(), 1);
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), FailureKind::Panic);
    assert_eq!(
        failure.message(),
        "the handler panicked with a payload that is not a string"
    );
    assert_eq!(
        failure.to_string(),
        "handler failure_isolation::panic_with_number panicked on isolation.odd_panic: \
         the handler panicked with a payload that is not a string"
    );
}

// --- into_result on success ---------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "isolation.quiet")]
struct Quiet;

static QUIET_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe]
fn quiet_ok(_: &Quiet) -> Result<(), LedgerFull> {
    QUIET_RAN.lock().unwrap().push("quiet_ok");
    Ok(())
}

#[test]
fn into_result_is_ok_when_nothing_failed() {
    let report = Bus::new().publish(Quiet);
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert!(report.into_result().is_ok());
    assert_eq!(*QUIET_RAN.lock().unwrap(), vec!["quiet_ok"]);
}

// --- catch_panics(false) -------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "isolation.unguarded")]
struct Unguarded;

static UNGUARDED_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe(priority = 1)]
fn unguarded_before(_: &Unguarded) {
    UNGUARDED_RAN.lock().unwrap().push("before");
}

#[subscribe(priority = 0)]
fn unguarded_panic(_: &Unguarded) {
    UNGUARDED_RAN.lock().unwrap().push("panic");
    panic!("unguarded handler gave up");
}

#[subscribe(priority = -1)]
fn unguarded_after(_: &Unguarded) {
    UNGUARDED_RAN.lock().unwrap().push("after");
}

#[test]
fn without_catch_panics_a_panic_unwinds_through_publish() {
    let bus = Bus::builder().catch_panics(false).build().unwrap();
    // `Bus` is not `RefUnwindSafe` (run-time handlers are boxed closures).
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| bus.publish(Unguarded)));
    let payload = outcome.expect_err("the panic propagates out of publish");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"unguarded handler gave up")
    );
    // The unwind stops the delivery where the panic happened.
    assert_eq!(*UNGUARDED_RAN.lock().unwrap(), vec!["before", "panic"]);
}
