//! Test fixture: `eventbus` is a dependency renamed to `bus_renamed`, so
//! `::eventbus` does not resolve here and the macros work only through
//! their `crate = "..."` option.

#![forbid(unsafe_code)]

use bus_renamed::{subscribe, Context, Event};

/// An event whose derive names the runtime through `crate = "..."`.
#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(crate = "bus_renamed", name = "renamed.ping")]
pub struct Ping {
    /// A payload.
    pub n: u32,
}

/// A local event, also through the renamed crate.
#[derive(Event, Debug)]
#[event(crate = "bus_renamed", local)]
pub struct LocalPing;

#[subscribe(crate = "bus_renamed")]
fn on_ping(_: &Ping) {}

#[subscribe(crate = "bus_renamed", priority = 1)]
async fn on_ping_async(ping: &Ping, ctx: &Context) {
    if ping.n > 0 {
        ctx.publish(LocalPing);
    }
}

#[subscribe(crate = "bus_renamed")]
fn on_local(_: &LocalPing) {}

#[cfg(test)]
mod tests {
    use bus_renamed::Bus;

    use super::{LocalPing, Ping};

    #[tokio::test]
    async fn the_macros_work_through_the_renamed_crate() {
        let bus = Bus::new();
        let report = bus.publish_async(Ping { n: 1 }).await;
        assert_eq!(report.handled(), 2);
        assert!(report.is_ok());
        assert_eq!(bus.publish(LocalPing).handled(), 1);
        let report = bus.publish_json("renamed.ping", r#"{"n":0}"#).unwrap();
        assert_eq!(report.scheduled(), 1);
        bus.idle().await;
    }
}
