use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Checked {
    fail: bool,
}

static UNIT_RAN: AtomicBool = AtomicBool::new(false);

#[subscribe]
fn returns_unit(_: &Checked) {
    UNIT_RAN.store(true, Ordering::Relaxed);
}

#[subscribe]
fn returns_string_error(checked: &Checked) -> Result<(), String> {
    if checked.fail {
        return Err("string error".to_owned());
    }
    Ok(())
}

#[subscribe]
fn returns_io_error(checked: &Checked) -> Result<(), std::io::Error> {
    if checked.fail {
        return Err(std::io::Error::other("io error"));
    }
    Ok(())
}

#[subscribe]
fn returns_boxed_error(checked: &Checked) -> Result<(), Box<dyn Error + Send + Sync>> {
    if checked.fail {
        return Err("boxed error".into());
    }
    Ok(())
}

fn main() {
    let bus = Bus::new();

    let report = bus.publish(Checked { fail: false });
    assert_eq!(report.handled(), 4);
    assert!(report.is_ok());
    assert!(UNIT_RAN.load(Ordering::Relaxed));

    let report = bus.publish(Checked { fail: true });
    assert_eq!(report.handled(), 4);
    assert_eq!(report.failures().len(), 3);
    let mut messages: Vec<&str> = report
        .failures()
        .iter()
        .map(eventbus::HandlerFailure::message)
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["boxed error", "io error", "string error"]);
}
