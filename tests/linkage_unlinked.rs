//! A crate of handlers that nothing names is left out by the linker: its
//! handlers are not registered, and `require` says so, with the fix.
//!
//! This file must never name the handlers crate (it is a dev-dependency of
//! the package all the same, which is the point).

use eventbus::prelude::*;
use eventbus::BuildError;

use linkage_events::InvoiceIssued;

const MISSING: &str = "no handler of `InvoiceIssued` (`linkage_events::InvoiceIssued`) is \
                       registered; if its handlers live in another crate, make sure that crate \
                       is linked by naming it once, e.g. `use my_handlers as _;`, and check the \
                       bus's `filter_handlers`";

#[test]
fn require_fails_with_the_linking_hint() {
    let error = Bus::builder()
        .require::<InvoiceIssued>()
        .build()
        .expect_err("the handlers crate is not linked");
    assert_eq!(error.to_string(), MISSING);
    assert!(matches!(
        error,
        BuildError::MissingHandlers {
            event_name: "InvoiceIssued",
            type_path: "linkage_events::InvoiceIssued",
        }
    ));
}

#[test]
fn a_publish_reaches_no_handler() {
    let bus = Bus::new();
    let report = bus.publish(InvoiceIssued { number: 7 });
    assert_eq!(report.handled(), 0);
    assert!(report.is_dead());
    assert!(report.is_ok());
    let listed = bus
        .handlers()
        .iter()
        .filter(|info| info.event_name() == "InvoiceIssued")
        .count();
    assert_eq!(listed, 0);
}
