//! Bench fixture: thousands of generated link-time handlers (see
//! `generate.rs`), and one `Probe` event with a single handler, to measure
//! `Bus::new()` at scale and `publish` among many other types.

#![forbid(unsafe_code)]
#![allow(missing_docs)]

use eventbus::prelude::*;

/// The event the benches publish: one handler among thousands of others.
#[derive(Event, Clone, serde::Serialize, serde::Deserialize)]
pub struct Probe(pub u64);

#[subscribe]
fn probe(event: &Probe) {
    std::hint::black_box(event.0);
}

include!(concat!(env!("OUT_DIR"), "/handlers.rs"));
