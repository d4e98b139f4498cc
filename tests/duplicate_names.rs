//! Two event types registered under one name: no bus can be built, and the
//! error names both types by their module paths.
//!
//! Every bus of this test binary sees the clash, so nothing else lives here.

use eventbus::prelude::*;
use eventbus::BuildError;

mod billing {
    use eventbus::prelude::*;

    #[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
    #[event(name = "dup.same")]
    pub struct Same {
        pub invoice: u32,
    }
}

mod shipping {
    use eventbus::prelude::*;

    #[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
    #[event(name = "dup.same")]
    pub struct Same {
        pub parcel: String,
    }
}

const MESSAGE: &str = "two event types are named `dup.same`: `duplicate_names::billing::Same` \
                       and `duplicate_names::shipping::Same`; give one of them another name \
                       with `#[event(name = \"...\")]`";

#[test]
fn both_types_claim_the_name() {
    assert_eq!(billing::Same::NAME, "dup.same");
    assert_eq!(shipping::Same::NAME, "dup.same");
}

#[test]
fn build_fails_naming_both_module_paths() {
    let error = Bus::builder().build().expect_err("the names clash");
    assert_eq!(error.to_string(), MESSAGE);
    match error {
        BuildError::DuplicateEventName {
            name,
            first,
            second,
        } => {
            assert_eq!(name, "dup.same");
            assert_eq!(first, "duplicate_names::billing::Same");
            assert_eq!(second, "duplicate_names::shipping::Same");
        }
        other => panic!("expected DuplicateEventName, got {other}"),
    }
}

#[test]
fn bus_new_panics_with_the_same_message() {
    let payload = std::panic::catch_unwind(Bus::new).expect_err("Bus::new panics on a clash");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(message, Some(MESSAGE));
}
