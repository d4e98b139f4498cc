//! A crate of handlers that the test names once is linked, so its handlers
//! are registered and `require` is satisfied.

use eventbus::prelude::*;
use eventbus::BuildError;

use std::sync::atomic::Ordering;

use linkage_events::InvoiceIssued;
use linkage_handlers as _;

#[test]
fn require_is_satisfied_and_the_handler_runs_once() {
    let bus = Bus::builder()
        .require::<InvoiceIssued>()
        .build()
        .expect("linkage_handlers is linked");

    let handlers: Vec<(&str, &str)> = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "InvoiceIssued")
        .map(|info| (info.event_name(), info.handler_name()))
        .collect();
    assert_eq!(
        handlers,
        vec![("InvoiceIssued", "linkage_handlers::file_invoice")]
    );

    let report = bus.publish(InvoiceIssued { number: 1 });
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok());
    assert!(!report.is_dead());
    assert_eq!(linkage_handlers::FILED.load(Ordering::Relaxed), 1);
}

#[test]
fn require_fails_when_filter_handlers_leaves_the_handler_out() {
    let error = Bus::builder()
        .filter_handlers(|info| info.handler_name() != "linkage_handlers::file_invoice")
        .require::<InvoiceIssued>()
        .build()
        .expect_err("the only handler is filtered out");
    assert_eq!(
        error.to_string(),
        "no handler of `InvoiceIssued` (`linkage_events::InvoiceIssued`) is registered; if its \
         handlers live in another crate, make sure that crate is linked by naming it once, e.g. \
         `use my_handlers as _;`, and check the bus's `filter_handlers`"
    );
    assert!(matches!(
        error,
        BuildError::MissingHandlers {
            event_name: "InvoiceIssued",
            type_path: "linkage_events::InvoiceIssued",
        }
    ));
}

#[test]
fn filter_handlers_keeping_the_handler_satisfies_require() {
    let bus = Bus::builder()
        .filter_handlers(|info| info.event_name() == "InvoiceIssued")
        .require::<InvoiceIssued>()
        .build()
        .expect("the handler is kept");
    let names: Vec<&str> = bus
        .handlers()
        .iter()
        .map(HandlerInfo::handler_name)
        .collect();
    assert_eq!(names, vec!["linkage_handlers::file_invoice"]);
}
