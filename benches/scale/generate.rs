//! Build script of the scale fixtures: writes `handlers.rs` with as many
//! link-time handlers as the package's name says (`eventbus-scale-1k` ->
//! 1,000), ten per event type, plus one `Probe` event with one handler.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let name = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let thousands: usize = name
        .rsplit('-')
        .next()
        .and_then(|suffix| suffix.strip_suffix('k'))
        .and_then(|count| count.parse().ok())
        .expect("the package is named eventbus-scale-<N>k");
    let handlers = thousands * 1000;
    let mut code = String::new();
    for event in 0..handlers / 10 {
        let _ = writeln!(
            code,
            "#[derive(Event, Clone, serde::Serialize, serde::Deserialize)] pub struct E{event}(pub u64);"
        );
        for handler in 0..10 {
            let _ = writeln!(
                code,
                "#[subscribe] fn h{event}_{handler}(event: &E{event}) {{ std::hint::black_box(event.0); }}"
            );
        }
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("handlers.rs"), code).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=../generate.rs");
}
