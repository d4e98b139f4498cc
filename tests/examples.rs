//! Runs each example program and checks what it prints, line for line.
//!
//! Each example is run through `cargo run`, so the binary checked is the
//! one built from the current source.

use std::process::Command;

use eventbus as _;

fn run_example(name: &str) -> String {
    run_example_with(name, &[], &[])
}

/// `cargo run --example name` with `features` on and `env` set.
fn run_example_with(name: &str, features: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO"));
    command.args(["run", "--quiet", "--example", name]);
    for feature in features {
        command.args(["--features", feature]);
    }
    let output = command
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|error| panic!("could not run `cargo run --example {name}`: {error}"));
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
            0  AnyEvent -> quickstart::audit\n   \
            0  OrderShipped -> quickstart::mail_customer\n   \
            0  OrderShipped -> quickstart::track_parcel\n \
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
         error: no event type is registered under the name `shop.order_place`; did you mean `shop.order_placed`?\n\
         -- async handlers run concurrently; publish_async waits for them --\n\
         audit: OrderShipped {\"item\":\"Book\"}\n\
         tracking: parcel for Book registered\n\
         mail: Book shipped (event #4)\n\
         handled by 2\n\
         -- emit queues the event and returns; shutdown delivers the queue --\n\
         emitted\n\
         audit: OrderShipped {\"item\":\"Lamp\"}\n\
         tracking: parcel for Lamp registered\n\
         mail: Lamp shipped (event #5)\n\
         shut down; nothing was lost\n"
    );
}

#[test]
fn async_orders_runs_handlers_concurrently_and_fires_and_forgets() {
    assert_eq!(
        run_example("async_orders"),
        "-- publish_async: the handlers run concurrently --\n\
         Sending notification for order: Python Book\n\
         Order placed: Python Book. Updating inventory...\n\
         2 handlers finished; ran concurrently: true\n\
         -- publish: fire and forget --\n\
         Event published; continuing... (2 handlers scheduled)\n\
         Sending notification for order: Rust Book\n\
         Order placed: Rust Book. Updating inventory...\n\
         all handlers done\n"
    );
}

/// The chain prints one line per event; the ids differ on every run, so
/// the test checks the lineage they describe.
#[test]
fn order_chain_delivers_breadth_first_with_lineage() {
    let output = run_example("order_chain");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 5, "{output}");
    let field = |line: &str, key: &str| -> String {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            .to_owned()
    };
    let heads: Vec<String> = lines[..4]
        .iter()
        .map(|line| {
            line.split(" id=")
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        })
        .collect();
    assert_eq!(
        heads,
        [
            "[depth 0] OrderPlaced",
            "[depth 1] PaymentCharged",
            "[depth 2] ReceiptMailed",
            "[depth 2] InventoryUpdated",
        ]
    );
    let root = field(lines[0], "id=");
    let payment = field(lines[1], "id=");
    for line in &lines[..4] {
        assert_eq!(field(line, "correlation="), root, "{line}");
    }
    assert_eq!(field(lines[0], "causation="), "-");
    assert_eq!(field(lines[1], "causation="), root);
    assert_eq!(field(lines[2], "causation="), payment);
    assert_eq!(field(lines[3], "causation="), payment);
    assert_eq!(
        lines[4],
        format!("root event {root}: 1 handler, 0 failures")
    );
}

#[test]
fn production_retries_breaks_the_circuit_and_keeps_dead_letters() {
    assert_eq!(
        run_example("production"),
        "-- two good orders: the first gateway call fails, the retry succeeds --\n\
         mail: receipt for order 1 sent\n\
         order 1: ok = true\n\
         mail: receipt for order 2 sent\n\
         order 2: ok = true\n\
         -- stolen cards: every attempt fails, each event becomes a dead letter --\n\
         -- after two failed orders in a row the circuit opens --\n\
         order 3: handler production::charge_card returned an error on shop.order_placed: card stolen refused (attempts: 3)\n\
         order 4: handler production::charge_card returned an error on shop.order_placed: card stolen refused (attempts: 3)\n\
         order 5: handler production::charge_card returned an error on shop.order_placed: circuit open for production::charge_card (attempts: 0)\n\
         -- handler metrics --\n\
         production::charge_card on shop.order_placed: 5 calls, 3 failed\n\
         production::mail_receipt on billing.payment_charged: 2 calls, 0 failed\n\
         -- dead letters --\n\
         shop.order_placed {\"card\":\"stolen\",\"order\":3} -> card stolen refused\n\
         shop.order_placed {\"card\":\"stolen\",\"order\":4} -> card stolen refused\n\
         shop.order_placed {\"card\":\"stolen\",\"order\":5} -> circuit open for production::charge_card\n\
         on_error calls: 3\n\
         -- event graph (Mermaid) --\n\
         flowchart LR\n    \
             e0([\"billing.payment_charged\"])\n    \
             e1([\"shop.order_placed\"])\n    \
             h0[\"production::charge_card [billing]\"]\n    \
             e1 --> h0\n    \
             h0 -.-> e0\n    \
             h1[\"production::mail_receipt [mail]\"]\n    \
             e0 --> h1\n"
    );
}

/// The shop's sink prints one JSON line per record; the warehouse reads
/// them back and its handlers print the envelopes they got. The ids differ
/// on every run, so the test checks that both sides agree on them.
#[test]
fn records_cross_to_another_bus_with_their_ids_and_correlation() {
    let output = run_example("records");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 7, "{output}");
    assert_eq!(
        lines[..2],
        [
            "-- shop: the sink writes each event as a line of JSON --",
            "shop: order 7 placed, card charged",
        ]
    );
    assert_eq!(
        lines[4],
        "-- warehouse: reads the lines back and delivers them --"
    );

    // The records, as the sink wrote them: the pinned JSON form, field
    // for field; only the ids and times differ from run to run.
    let record = |line: &str| -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|error| panic!("{line:?}: {error}"))
    };
    let text = |record: &serde_json::Value, key: &str| -> String {
        record[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {record}"))
            .to_owned()
    };
    let (placed, charged) = (record(lines[2]), record(lines[3]));
    let root = text(&placed, "id");
    let follow_up = text(&charged, "id");
    assert_ne!(root, follow_up);
    for id in [&root, &follow_up] {
        id.parse::<eventbus::Uuid>()
            .unwrap_or_else(|error| panic!("{id}: {error}"));
    }
    assert_eq!(
        lines[2],
        format!(
            r#"{{"event":"shop.order_placed","payload":{{"order":7,"total_cents":1250}},"id":"{root}","version":1,"timestamp":"{}","correlation_id":"{root}","causation_id":null}}"#,
            text(&placed, "timestamp")
        )
    );
    assert_eq!(
        lines[3],
        format!(
            r#"{{"event":"shop.payment_charged","payload":{{"order":7,"total_cents":1250}},"id":"{follow_up}","version":1,"timestamp":"{}","correlation_id":"{root}","causation_id":"{root}"}}"#,
            text(&charged, "timestamp")
        )
    );

    // The warehouse's handlers, under the same envelopes, from outside.
    let field = |line: &str, key: &str| -> String {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            .to_owned()
    };
    let head = |line: &str| {
        line.split(" id=")
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    };
    assert_eq!(
        [head(lines[5]), head(lines[6])],
        [
            "warehouse: pack order 7",
            "warehouse: mail receipt for order 7"
        ]
    );
    for (line, id, causation) in [(lines[5], &root, "-"), (lines[6], &follow_up, &*root)] {
        assert_eq!(field(line, "id="), *id, "{line}");
        assert_eq!(field(line, "correlation="), root, "{line}");
        assert_eq!(field(line, "causation="), causation, "{line}");
        assert_eq!(field(line, "origin="), "remote", "{line}");
    }
}

/// The account example, run twice on one SQLite file: the second run finds
/// the account where the first left it and appends; nothing is wiped.
#[cfg(feature = "store")]
#[test]
fn bank_account_rebuilds_the_balance_and_the_read_model_from_the_log_on_the_next_run() {
    let path = std::env::temp_dir().join(format!("eventbus-bank-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let run = || run_example_with("bank_account", &["store"], &[("DATABASE_URL", &url)]);
    let first = run();
    let second = run();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    assert_eq!(
        first,
        "loaded account-ada at version 0: balance 0 cents\n\
         opened for Ada\n\
         deposited 10000 and 2500: balance 12500\n\
         withdrawal of 1000000 refused: insufficient funds: the balance is 12500 cents, the withdrawal 1000000\n\
         withdrew 4000: balance 8500\n\
         a stale writer is refused: the stream moved on to version 5\n\
         rebuilt from the log: version 5, balance 8501 cents\n\
         statement issued for ada\n\
         projected 7 events into bank_balances: [(\"ada\", 8501)]\n\
         audit trail of the closing:\n  \
         bank.month_closed {\"account\":\"ada\"}\n  \
         bank.statement_issued {\"account\":\"ada\"} (caused by bank.month_closed)\n"
    );
    assert_eq!(
        second,
        "loaded account-ada at version 5: balance 8501 cents\n\
         deposited 10000 and 2500: balance 21001\n\
         withdrawal of 1000000 refused: insufficient funds: the balance is 21001 cents, the withdrawal 1000000\n\
         withdrew 4000: balance 17001\n\
         a stale writer is refused: the stream moved on to version 9\n\
         rebuilt from the log: version 9, balance 17002 cents\n\
         statement issued for ada\n\
         projected 13 events into bank_balances: [(\"ada\", 17002)]\n\
         audit trail of the closing:\n  \
         bank.month_closed {\"account\":\"ada\"}\n  \
         bank.statement_issued {\"account\":\"ada\"} (caused by bank.month_closed)\n"
    );
}
