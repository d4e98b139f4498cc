//! Durable webhooks: with the store, a webhook's delivery is a row of
//! `eventbus_webhook_deliveries` that outlives the process, tried by the
//! next one; on SQLite and PostgreSQL.

#[path = "../eventbus-store/tests/support/mod.rs"]
mod support;

#[path = "common/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use eventbus::http::{RetrySchedule, WebhookSink};
use eventbus::prelude::*;
use eventbus::MemoryDeadLetters;
use receiver::{Answer, Receiver};
use serde::{Deserialize, Serialize};
use support::TestDb;

#[derive(Event, Debug, Clone, Serialize, Deserialize)]
#[event(name = "order_placed")]
struct OrderPlaced {
    item: String,
    quantity: u32,
}

/// The deliveries' endpoints and attempts, as another program reads them.
async fn rows(db: &TestDb) -> Vec<(String, i64)> {
    db.text_and_int(
        "SELECT endpoint, CAST(attempts AS BIGINT) FROM eventbus_webhook_deliveries \
         ORDER BY endpoint",
    )
    .await
}

/// Waits (up to 30 s) until the deliveries table reads `expected`.
async fn wait_for_rows(db: &TestDb, expected: &[(String, i64)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = rows(db).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the deliveries read {now:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn durable_sink(store: &eventbus::store::Store, receiver: &Receiver) -> WebhookSink {
    // Two quick tries, then one after 1.5 s: the first process stops
    // before that one.
    let schedule = RetrySchedule::new([0, 100, 1_500, 100].map(Duration::from_millis)).unwrap();
    let webhooks = WebhookSink::builder()
        .retry_schedule(schedule)
        .store(store)
        .build();
    webhooks.register("order_placed", &receiver.url).unwrap();
    webhooks
}

/// A bus on `store` with the durable sink and the dead letters.
fn durable_bus(
    store: &eventbus::store::Store,
    webhooks: &WebhookSink,
    dead: &MemoryDeadLetters,
) -> Bus {
    Bus::builder()
        .journal(store.clone())
        .sink("webhooks", webhooks.clone())
        .dead_letters(dead.clone())
        .build()
        .unwrap()
}

conformance! {
    async fn a_pending_delivery_survives_a_restart(db: &TestDb) {
        let receiver = Receiver::answering(503).await;
        let store = db.open().await;
        let dead = MemoryDeadLetters::new();

        let webhooks = durable_sink(&store, &receiver);
        let bus = durable_bus(&store, &webhooks, &dead);
        bus.emit(OrderPlaced { item: "kettle".into(), quantity: 1 }).await.unwrap();
        receiver.wait_for(2).await;
        wait_for_rows(db, &[(receiver.url.clone(), 2)]).await;
        assert_eq!(webhooks.pending().await.unwrap(), 1);
        assert_eq!(webhooks.endpoints()[0].retrying, 1);
        bus.shutdown().await;
        drop(bus);

        // Between the two processes the row waits, its last answer kept.
        assert_eq!(rows(db).await, [(receiver.url.clone(), 2)]);
        assert_eq!(
            db.text_and_int(
                "SELECT endpoint, CAST(last_status AS BIGINT) FROM eventbus_webhook_deliveries"
            )
            .await,
            [(receiver.url.clone(), 503)]
        );

        receiver.script(|_| Answer::Status(200, ""));
        let store = db.open().await;
        let webhooks = durable_sink(&store, &receiver);
        let bus = durable_bus(&store, &webhooks, &dead);
        wait_for_rows(db, &[]).await;
        let hits = receiver.hits();
        assert_eq!(hits.len(), 3);
        let id = hits[0].header("webhook-id").to_owned();
        assert!(hits.iter().all(|hit| hit.header("webhook-id") == id));
        assert_eq!(hits[2].json()["payload"]["item"], "kettle");
        assert_eq!(webhooks.endpoints()[0].sent, 1);
        assert_eq!(webhooks.pending().await.unwrap(), 0);
        assert!(dead.is_empty());
        bus.shutdown().await;
    }

    async fn a_delivery_that_fails_for_good_leaves_the_table_for_the_dead_letters(db: &TestDb) {
        let receiver = Receiver::start(|_| Answer::Status(422, "unprocessable order")).await;
        let store = db.open().await;
        let dead = MemoryDeadLetters::new();
        let webhooks = durable_sink(&store, &receiver);
        let bus = durable_bus(&store, &webhooks, &dead);
        for n in 0..20 {
            bus.emit(OrderPlaced { item: format!("item {n}"), quantity: n }).await.unwrap();
        }
        receiver.wait_for(20).await;
        wait_for_rows(db, &[]).await;
        bus.flush().await;
        let letters = dead.letters();
        assert_eq!(letters.len(), 20);
        assert_eq!(
            letters[0].message,
            format!(
                "sink `webhooks` could not send the record: webhook to {} failed after 1 try: \
                 the endpoint answered 422 Unprocessable Entity: unprocessable order",
                receiver.url
            )
        );
        assert_eq!(webhooks.endpoints()[0].failed, 20);
        assert_eq!(receiver.hits().len(), 20);
        bus.shutdown().await;
    }
}

conformance! {
    async fn a_slow_endpoint_holds_back_no_other_and_nothing_is_sent_twice(db: &TestDb) {
        let slow = Receiver::start(|_| Answer::Slow(Duration::from_millis(700), 200)).await;
        let fast = Receiver::answering(200).await;
        let store = db.open().await;
        let webhooks = WebhookSink::builder()
            .timeout(Duration::from_secs(1))
            .concurrency(1)
            .store(&store)
            .build();
        webhooks.register("order_placed", &slow.url).unwrap();
        webhooks.register("order_placed", &fast.url).unwrap();
        let bus = Bus::builder()
            .journal(store.clone())
            .sink("webhooks", webhooks.clone())
            .build()
            .unwrap();
        for n in 0..12 {
            bus.emit(OrderPlaced { item: format!("item {n}"), quantity: n }).await.unwrap();
        }
        // All twelve reach the fast endpoint while the slow one, one try
        // at a time, has not begun its fourth.
        let fast_hits = fast.wait_for(12).await;
        let slow_hits = slow.wait_for(4).await;
        assert!(fast_hits[11].at < slow_hits[3].at);

        wait_for_rows(db, &[]).await;
        for receiver in [&slow, &fast] {
            let hits = receiver.hits();
            let mut ids: Vec<&str> = hits.iter().map(|hit| hit.header("webhook-id")).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!((hits.len(), ids.len()), (12, 12));
        }
        bus.shutdown().await;
    }

    async fn a_durable_sink_on_a_bus_without_a_journal_says_what_to_do(db: &TestDb) {
        let receiver = Receiver::answering(200).await;
        let store = db.open().await;
        let webhooks = WebhookSink::builder().store(&store).build();
        webhooks.register("order_placed", &receiver.url).unwrap();
        let dead = MemoryDeadLetters::new();
        let bus = Bus::builder()
            .sink("webhooks", webhooks.clone())
            .dead_letters(dead.clone())
            .build()
            .unwrap();
        bus.emit(OrderPlaced { item: "lost?".into(), quantity: 1 }).await.unwrap();
        bus.flush().await;
        let letters: Vec<String> = dead.letters().into_iter().map(|letter| letter.message).collect();
        assert_eq!(
            letters,
            ["sink `webhooks` could not send the record: a durable WebhookSink reads each record \
              back from the event log, and this bus has none: give the bus the sink's store as \
              its journal (`Bus::builder().journal(store.clone())`)"]
        );
        assert!(receiver.hits().is_empty());
        bus.shutdown().await;
    }
}
