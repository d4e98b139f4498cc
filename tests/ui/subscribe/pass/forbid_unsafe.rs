//! Both macros compile in a crate that forbids `unsafe`.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name = "safe.checked", version = 2)]
struct Checked;

#[derive(Event)]
#[event(local)]
struct LocalChecked;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[subscribe(priority = 1)]
fn on_checked(_: &Checked) {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

#[subscribe(name = "local")]
fn on_local(_: &LocalChecked) -> Result<(), String> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[subscribe]
fn on_any(_: &AnyEvent) {}

#[subscribe]
fn on_dead(_: &DeadEvent) {}

fn main() {
    let bus = Bus::new();
    assert_eq!(bus.publish(Checked).handled(), 1);
    assert_eq!(bus.publish(LocalChecked).handled(), 1);
    assert_eq!(CALLS.load(Ordering::Relaxed), 2);
}
