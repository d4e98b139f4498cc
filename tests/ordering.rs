//! Handlers run by priority (higher first, negative last); ties run in
//! source order: module path first, then line. `Bus::handlers` lists them in
//! that same order.
//!
//! The modules below are written out of order on purpose: `second` comes
//! before `first` and before the crate-root handlers in the file, so a sort by
//! line alone would give another order than the one by module path.

use eventbus::prelude::*;
use eventbus::HandlerKind;

use std::sync::Mutex;

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
#[event(name = "ordering.ordered")]
struct Ordered;

static RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn ran(name: &'static str) {
    RAN.lock().unwrap().push(name);
}

mod second {
    use eventbus::prelude::*;

    pub const LINE: u32 = line!() + 2;
    #[subscribe]
    fn on_ordered(_: &super::Ordered) {
        super::ran("second");
    }
}

mod first {
    use eventbus::prelude::*;

    pub const LINE: u32 = line!() + 2;
    #[subscribe]
    fn on_ordered(_: &super::Ordered) {
        super::ran("first");
    }
}

const LOW_LINE: u32 = line!() + 2;
#[subscribe(priority = -5)]
fn low(_: &Ordered) {
    ran("low");
}

// `zeta` is written above `alpha`: within one module, the line decides, not
// the name.
const ZETA_LINE: u32 = line!() + 2;
#[subscribe]
fn zeta(_: &Ordered) {
    ran("zeta");
}

const ALPHA_LINE: u32 = line!() + 2;
#[subscribe(priority = 0)]
fn alpha(_: &Ordered) {
    ran("alpha");
}

const NAMED_LINE: u32 = line!() + 2;
#[subscribe(priority = 5, name = "audit.custom_name")]
fn named(_: &Ordered) {
    ran("named");
}

const HIGH_LINE: u32 = line!() + 2;
#[subscribe(priority = 10)]
fn high(_: &Ordered) {
    ran("high");
}

#[test]
fn handlers_run_by_priority_then_module_path_then_line() {
    let report = Bus::new().publish(Ordered);
    assert_eq!(report.handled(), 7);
    assert!(report.is_ok());
    assert_eq!(
        *RAN.lock().unwrap(),
        vec!["high", "named", "zeta", "alpha", "first", "second", "low"]
    );
}

#[test]
fn handlers_lists_them_in_dispatch_order_with_their_details() {
    let bus = Bus::new();
    let listed: Vec<HandlerInfo> = bus
        .handlers()
        .into_iter()
        .filter(|info| info.event_name() == "ordering.ordered")
        .collect();

    let names: Vec<&str> = listed.iter().map(HandlerInfo::handler_name).collect();
    assert_eq!(
        names,
        vec![
            "ordering::high",
            "audit.custom_name",
            "ordering::zeta",
            "ordering::alpha",
            "ordering::first::on_ordered",
            "ordering::second::on_ordered",
            "ordering::low",
        ]
    );

    let priorities: Vec<i32> = listed.iter().map(HandlerInfo::priority).collect();
    assert_eq!(priorities, vec![10, 5, 0, 0, 0, 0, -5]);

    let locations: Vec<String> = listed
        .iter()
        .map(|info| info.location().to_string())
        .collect();
    let expected: Vec<String> = [
        HIGH_LINE,
        NAMED_LINE,
        ZETA_LINE,
        ALPHA_LINE,
        first::LINE,
        second::LINE,
        LOW_LINE,
    ]
    .iter()
    .map(|line| format!("tests/ordering.rs:{line}"))
    .collect();
    assert_eq!(locations, expected);

    for info in &listed {
        assert_eq!(info.kind(), HandlerKind::Sync);
        assert_eq!(info.event_name(), "ordering.ordered");
        assert_eq!(info.location().file(), "tests/ordering.rs");
        assert_eq!(info.to_string(), info.handler_name());
    }

    // The location is the handler's name: column 4 at the crate root
    // (`fn high`), column 8 inside a module (`    fn on_ordered`).
    assert_eq!(listed[0].location().line(), HIGH_LINE);
    assert_eq!(listed[0].location().column(), 4);
    assert_eq!(listed[4].location().column(), 8);

    assert_eq!(HandlerKind::Sync.to_string(), "sync");
    assert_eq!(
        format!("{:?}", listed[0]),
        format!(
            "HandlerInfo {{ event_name: \"ordering.ordered\", handler_name: \"ordering::high\", \
             location: tests/ordering.rs:{HIGH_LINE}, priority: 10, kind: Sync, mode: Inline, \
             group: None, retry: 0, timeout: None, publishes: [] }}"
        )
    );
}

#[test]
fn the_order_is_the_same_on_every_bus() {
    let of = |bus: &Bus| -> Vec<&'static str> {
        bus.handlers()
            .iter()
            .filter(|info| info.event_name() == "ordering.ordered")
            .map(HandlerInfo::handler_name)
            .collect()
    };
    let one = Bus::new();
    let two = Bus::builder().build().unwrap();
    assert_eq!(of(&one), of(&two));
    assert_eq!(of(&one).len(), 7);
}
