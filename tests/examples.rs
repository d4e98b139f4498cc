//! Runs each example program and checks what it prints, line for line.
//!
//! `cargo test` builds the examples before it runs tests; this file finds
//! their binaries beside its own.

use std::path::PathBuf;
use std::process::Command;

use eventbus as _;

fn run_example(name: &str) -> String {
    let test_binary = std::env::current_exe().expect("the test binary knows its own path");
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let binary: PathBuf = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples first",
        binary.display()
    );
    let output = Command::new(&binary)
        .output()
        .unwrap_or_else(|error| panic!("could not run {}: {error}", binary.display()));
    assert!(
        output.status.success(),
        "example {name} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("examples print UTF-8")
}

#[test]
fn orders_prints_the_original_scenario() {
    assert_eq!(
        run_example("orders"),
        "Order placed: Python Book. Updating inventory...\n\
         Sending notification for order: Python Book\n\
         (2 handlers ran)\n\
         Order placed: Rust Book. Updating inventory...\n\
         (1 handler ran)\n"
    );
}

#[test]
fn quickstart_shows_routing_failures_and_subscriptions() {
    assert_eq!(
        run_example("quickstart"),
        "-- handlers found at link time --\n  \
           10  shop.order_placed -> quickstart::update_inventory\n   \
            0  shop.order_placed -> quickstart::charge_card\n   \
            0  AnyEvent -> quickstart::audit\n \
          -10  shop.order_placed -> quickstart::send_receipt\n\
         -- a small order --\n\
         inventory: 1 x Book reserved\n\
         payment: charged for Book\n\
         audit: shop.order_placed {\"item\":\"Book\",\"quantity\":1}\n\
         mail: receipt for Book sent\n\
         handled by 3, ok: true\n\
         -- a large order: one handler fails, the others still run --\n\
         inventory: 6 x Lamp reserved\n\
         audit: shop.order_placed {\"item\":\"Lamp\",\"quantity\":6}\n\
         mail: receipt for Lamp sent\n\
         handled by 3, ok: false\n\
         failure: handler quickstart::charge_card returned an error on shop.order_placed: card declined for 72 EUR\n\
         -- a handler added at run time, removed by dropping it --\n\
         inventory: 2 x Pen reserved\n\
         payment: charged for Pen\n\
         audit: shop.order_placed {\"item\":\"Pen\",\"quantity\":2}\n\
         mail: receipt for Pen sent\n\
         dashboard: Pen ordered\n\
         handled by 4\n\
         -- bad input is an error, never a silent drop --\n\
         error: no event type is registered under the name `shop.order_place`; did you mean `shop.order_placed`?\n"
    );
}
