//! The runtime under another name: generated code must go through
//! `crate = "..."`, never through `::eventbus`.

extern crate eventbus as bus_renamed;

use std::sync::atomic::{AtomicUsize, Ordering};

use bus_renamed::{subscribe, Bus, Event};

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(crate = "bus_renamed")]
struct Pinged {
    times: usize,
}

#[derive(Event)]
#[event(crate = "bus_renamed", local)]
struct LocalPing;

static PINGS: AtomicUsize = AtomicUsize::new(0);

#[subscribe(crate = "bus_renamed")]
fn on_ping(ping: &Pinged) {
    PINGS.fetch_add(ping.times, Ordering::Relaxed);
}

#[subscribe(crate = "bus_renamed", priority = 1)]
fn on_local_ping(_: &LocalPing) -> Result<(), bus_renamed::BoxError> {
    PINGS.fetch_add(100, Ordering::Relaxed);
    Ok(())
}

mod nested {
    // The path is used as written, wherever the item is.
    #[bus_renamed::subscribe(crate = "bus_renamed")]
    fn on_ping_too(ping: &super::Pinged) {
        super::PINGS.fetch_add(ping.times, std::sync::atomic::Ordering::Relaxed);
    }
}

fn main() {
    assert_eq!(<Pinged as Event>::NAME, "Pinged");

    let bus = Bus::new();
    let report = bus.publish(Pinged { times: 2 });
    assert_eq!(report.handled(), 2);
    assert!(report.is_ok());
    assert_eq!(bus.publish(LocalPing).handled(), 1);
    assert_eq!(PINGS.load(Ordering::Relaxed), 104);
}
