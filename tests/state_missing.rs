//! A handler whose `State<T>` was not given makes the build fail, naming
//! the handler and the type; never a panic at publish time.
//!
//! In a binary of its own: the handler below breaks `Bus::new()` for every
//! test that links it.

use eventbus::prelude::*;
use eventbus::BuildError;

use std::panic;

/// Never given to any bus in this file.
struct SmtpConfig;

struct Unrelated;

struct AlsoUnrelated;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Orphan;

#[subscribe]
fn needs_smtp(_: &Orphan, _config: State<SmtpConfig>) {}

const NOTHING_GIVEN: &str = "the handler `state_missing::needs_smtp` takes \
    `State<state_missing::SmtpConfig>`, but no `state_missing::SmtpConfig` was given to this \
    bus; add `.state(value)` to `Bus::builder()` (no state was given)";

#[test]
fn build_fails_naming_the_handler_and_the_missing_type() {
    let error = Bus::builder().build().expect_err("SmtpConfig is missing");
    match &error {
        BuildError::MissingState {
            handler,
            type_name,
            given,
        } => {
            assert_eq!(*handler, "state_missing::needs_smtp");
            assert_eq!(*type_name, "state_missing::SmtpConfig");
            assert!(given.is_empty());
        }
        other => panic!("expected MissingState, got {other}"),
    }
    assert_eq!(error.to_string(), NOTHING_GIVEN);
}

#[test]
fn the_error_lists_the_states_that_were_given() {
    let error = Bus::builder()
        .state(Unrelated)
        .state(AlsoUnrelated)
        .build()
        .expect_err("SmtpConfig is missing");
    assert_eq!(
        error.to_string(),
        "the handler `state_missing::needs_smtp` takes `State<state_missing::SmtpConfig>`, but \
         no `state_missing::SmtpConfig` was given to this bus; add `.state(value)` to \
         `Bus::builder()` (given: `state_missing::Unrelated`, `state_missing::AlsoUnrelated`)"
    );
}

#[test]
fn bus_new_and_default_panic_with_the_same_message() {
    for make in [Bus::new as fn() -> Bus, Bus::default] {
        let payload = panic::catch_unwind(make).expect_err("building must fail");
        let message = payload
            .downcast_ref::<String>()
            .expect("the panic carries the error's text");
        assert_eq!(message, NOTHING_GIVEN);
    }
}

#[test]
fn a_handler_left_out_by_filter_handlers_needs_no_state() {
    let bus = Bus::builder()
        .filter_handlers(|info| info.handler_name() != "state_missing::needs_smtp")
        .build()
        .expect("validation looks only at the selected handlers");

    assert!(bus
        .handlers()
        .iter()
        .all(|info| info.handler_name() != "state_missing::needs_smtp"));
    let report = bus.publish(Orphan);
    assert!(report.is_dead());
    assert_eq!(report.handled(), 0);
}
