//! What handler parameters need is settled when the bus is built
//! (`FromContext::needs`): a handler that takes only `State<T>` makes no
//! envelope (no id, clock or sequence number per publish), while one that
//! takes `&Context` does; a user extractor declares the states it reads.

use std::sync::Mutex;

use eventbus::prelude::*;
use eventbus::{BoxError, FromContext, Needs};

struct Config {
    shop: &'static str,
}

fn bus() -> Bus {
    Bus::builder()
        .state(Config { shop: "corner" })
        .build()
        .expect("the state is given")
}

// --- a State-only handler needs no envelope ------------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Priced {
    cents: u32,
}

static PRICED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
fn log_price(price: &Priced, config: State<Config>) {
    PRICED
        .lock()
        .unwrap()
        .push(format!("{}: {}", config.shop, price.cents));
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Counted;

static SEQUENCES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[subscribe]
fn record_sequence(_: &Counted, ctx: &Context) {
    SEQUENCES.lock().unwrap().push(ctx.envelope().sequence);
}

#[test]
fn a_handler_taking_only_state_draws_no_sequence_number() {
    let bus = bus();
    for cents in [100, 250, 399] {
        let report = bus.publish(Priced { cents });
        assert_eq!(report.handled(), 1);
        assert!(report.is_ok());
    }
    let report = bus.publish(Counted);
    assert_eq!(report.handled(), 1);

    assert_eq!(
        *PRICED.lock().unwrap(),
        vec!["corner: 100", "corner: 250", "corner: 399"]
    );
    // The three `Priced` events built no envelope, so the first event that
    // needs one gets the bus's first sequence number.
    assert_eq!(*SEQUENCES.lock().unwrap(), vec![1]);
}

// --- async handlers take their state the same way -------------------------------------

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Shipped {
    parcel: u32,
}

static SHIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[subscribe]
async fn log_shipment(shipped: &Shipped, config: State<Config>) {
    tokio::task::yield_now().await;
    SHIPPED
        .lock()
        .unwrap()
        .push(format!("{} shipped {}", config.shop, shipped.parcel));
}

#[tokio::test]
async fn an_async_handler_taking_only_state_gets_it() {
    let bus = bus();
    let report = bus.publish_async(Shipped { parcel: 7 }).await;
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok(), "{:?}", report.failures());
    assert_eq!(*SHIPPED.lock().unwrap(), vec!["corner shipped 7"]);
}

// --- user extractors declare their needs -----------------------------------------------

/// The shop's name, read from the `Config` state through the context.
struct Shop(&'static str);

impl FromContext<'_> for Shop {
    fn from_context(ctx: &Context) -> Result<Self, BoxError> {
        let config = ctx.state::<Config>().ok_or("no Config")?;
        Ok(Shop(config.shop))
    }

    fn needs(needs: &mut Needs) {
        needs.state::<Config>();
    }
}

#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
struct Sold;

static SOLD: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[subscribe]
fn log_sale(_: &Sold, shop: Shop) {
    SOLD.lock().unwrap().push(shop.0);
}

#[test]
fn a_user_extractor_gets_what_it_declared() {
    let report = bus().publish(Sold);
    assert_eq!(report.handled(), 1);
    assert!(report.is_ok(), "{:?}", report.failures());
    assert_eq!(*SOLD.lock().unwrap(), vec!["corner"]);
}

#[test]
fn a_state_a_user_extractor_declares_is_checked_by_build() {
    let error = Bus::builder()
        .filter_handlers(|handler| handler.handler_name() == "state_at_build::log_sale")
        .build()
        .expect_err("Config is not given");
    assert_eq!(
        error.to_string(),
        "the handler `state_at_build::log_sale` takes `State<state_at_build::Config>`, but no \
         `state_at_build::Config` was given to this bus; add `.state(value)` to `Bus::builder()` \
         (no state was given)"
    );
}
