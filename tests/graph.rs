//! `Bus::graph` renders the bus's handlers as a Mermaid flowchart: events
//! as stadium nodes (sorted by name), handlers as boxes (in dispatch order,
//! with their group in brackets), a solid edge from an event to each of its
//! handlers and a dotted one from a handler to each event it declares with
//! `publishes = [..]`.
//!
//! The graph shows every handler of the binary, so this file keeps to one
//! small chain.

use eventbus::prelude::*;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct PaymentCharged {
    order: u32,
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct ReceiptSent {
    order: u32,
}

#[subscribe(priority = 5)]
fn reserve_stock(_: &OrderPlaced) {}

#[subscribe(group = "billing", publishes = [PaymentCharged])]
fn charge_payment(order: &OrderPlaced, ctx: &Context) {
    ctx.publish(PaymentCharged { order: order.order });
}

#[subscribe(publishes = [ReceiptSent])]
fn send_receipt(payment: &PaymentCharged, ctx: &Context) {
    ctx.publish(ReceiptSent {
        order: payment.order,
    });
}

#[subscribe]
fn archive_receipt(_: &ReceiptSent) {}

#[test]
fn the_graph_of_a_bus_with_every_group() {
    let bus = Bus::builder().groups(["billing"]).build().unwrap();
    assert_eq!(
        bus.graph(),
        r#"flowchart LR
    e0(["OrderPlaced"])
    e1(["PaymentCharged"])
    e2(["ReceiptSent"])
    h0["graph::reserve_stock"]
    e0 --> h0
    h1["graph::charge_payment [billing]"]
    e0 --> h1
    h1 -.-> e1
    h2["graph::send_receipt"]
    e1 --> h2
    h2 -.-> e2
    h3["graph::archive_receipt"]
    e2 --> h3
"#
    );
}

#[test]
fn the_graph_leaves_out_handlers_of_groups_the_bus_does_not_run() {
    assert_eq!(
        Bus::new().graph(),
        r#"flowchart LR
    e0(["OrderPlaced"])
    e1(["PaymentCharged"])
    e2(["ReceiptSent"])
    h0["graph::reserve_stock"]
    e0 --> h0
    h1["graph::send_receipt"]
    e1 --> h1
    h1 -.-> e2
    h2["graph::archive_receipt"]
    e2 --> h2
"#
    );
}

#[test]
fn an_event_only_declared_as_published_still_gets_a_node() {
    let bus = Bus::builder()
        .groups(["billing"])
        .filter_handlers(|info| info.handler_name() == "graph::charge_payment")
        .build()
        .unwrap();
    assert_eq!(
        bus.graph(),
        r#"flowchart LR
    e0(["OrderPlaced"])
    e1(["PaymentCharged"])
    h0["graph::charge_payment [billing]"]
    e0 --> h0
    h0 -.-> e1
"#
    );
}

#[test]
fn a_bus_without_handlers_has_an_empty_graph() {
    let bus = Bus::builder().filter_handlers(|_| false).build().unwrap();
    assert_eq!(bus.graph(), "flowchart LR\n");
}

// --- labels are escaped ------------------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Shout {
    words: String,
}

// In a group of its own, so the graphs above never show it.
#[subscribe(name = "say \"hi\" <loud>", group = "<ops>")]
fn shout(_: &Shout) {}

#[test]
fn quotes_and_angle_brackets_in_labels_are_escaped() {
    let bus = Bus::builder()
        .groups(["<ops>"])
        .filter_handlers(|info| info.event_name() == "Shout")
        .build()
        .unwrap();
    assert_eq!(
        bus.graph(),
        r#"flowchart LR
    e0(["Shout"])
    h0["say #quot;hi#quot; #lt;loud#gt; [#lt;ops#gt;]"]
    e0 --> h0
"#
    );
}

// --- run-time subscriptions --------------------------------------------------

#[test]
fn a_run_time_subscription_is_drawn_after_the_link_time_handlers() {
    let bus = Bus::builder()
        .filter_handlers(|info| info.event_name() == "ReceiptSent")
        .build()
        .unwrap();
    let subscription = bus.subscribe(|_: &ReceiptSent| {});
    let name = subscription.info().handler_name();
    assert!(!name.contains(['"', '<', '>']), "{name}");

    assert_eq!(
        bus.graph(),
        format!(
            r#"flowchart LR
    e0(["ReceiptSent"])
    h0["graph::archive_receipt"]
    e0 --> h0
    h1["{name}"]
    e0 --> h1
"#
        )
    );

    drop(subscription);
    assert_eq!(
        bus.graph(),
        r#"flowchart LR
    e0(["ReceiptSent"])
    h0["graph::archive_receipt"]
    e0 --> h0
"#
    );
}
