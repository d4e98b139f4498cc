use std::sync::atomic::{AtomicBool, Ordering};

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct Checked {
    fail: bool,
}

static UNIT_RAN: AtomicBool = AtomicBool::new(false);

#[subscribe]
async fn returns_unit(_: &Checked) {
    tokio::task::yield_now().await;
    UNIT_RAN.store(true, Ordering::Relaxed);
}

#[subscribe]
async fn returns_string_error(checked: &Checked) -> Result<(), String> {
    tokio::task::yield_now().await;
    if checked.fail {
        return Err("string error".to_owned());
    }
    Ok(())
}

#[subscribe]
async fn returns_io_error(checked: &Checked) -> Result<(), std::io::Error> {
    if checked.fail {
        return Err(std::io::Error::other("io error"));
    }
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bus = Bus::new();

    let report = runtime.block_on(bus.publish_async(Checked { fail: false }));
    assert_eq!(report.handled(), 3);
    assert_eq!(report.scheduled(), 0);
    assert!(report.is_ok());
    assert!(UNIT_RAN.load(Ordering::Relaxed));

    let report = runtime.block_on(bus.publish_async(Checked { fail: true }));
    assert_eq!(report.handled(), 3);
    let mut messages: Vec<&str> = report
        .failures()
        .iter()
        .map(eventbus::HandlerFailure::message)
        .collect();
    messages.sort_unstable();
    assert_eq!(messages, ["io error", "string error"]);
}
