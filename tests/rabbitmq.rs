//! The RabbitMQ transport against the local broker: consumer groups,
//! acks, retry tiers, the dead queue, redrive, duplicates, the pinned wire
//! format both ways, and shutdown. Each test has a prefix of its own and
//! deletes what it declared.

#[path = "common/rabbit.rs"]
mod rabbit;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventbus::prelude::*;
use eventbus::rabbitmq::{Consumer, RabbitError, RabbitMq};
use eventbus::{Envelope, EventRecord, Origin, Uuid};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use rabbit::{until, Broker};

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "rmq.placed")]
struct Placed {
    n: u32,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "rmq.flaky")]
struct Flaky {
    n: u32,
}

#[derive(Event, Debug, Clone, serde::Serialize, serde::Deserialize)]
#[event(name = "rmq.slow")]
struct Slow {
    n: u32,
}

/// What the handlers of one test saw, whichever bus ran them.
#[derive(Default)]
struct Probe {
    runs: Mutex<Vec<Run>>,
}

#[derive(Clone)]
struct Run {
    handler: &'static str,
    worker: String,
    n: u32,
    at: Instant,
    envelope: Envelope,
}

impl Probe {
    fn runs(&self, handler: &str) -> Vec<Run> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .filter(|run| run.handler == handler)
            .cloned()
            .collect()
    }

    fn count(&self, handler: &str) -> usize {
        self.runs(handler).len()
    }
}

/// The state every bus of these tests has: its worker's name, the test's
/// probe, and whether slow handlers hang (a worker about to be killed).
#[derive(Clone)]
struct Worker {
    name: String,
    probe: Arc<Probe>,
    hang: bool,
}

impl Worker {
    fn record(&self, handler: &'static str, n: u32, ctx: &Context) {
        self.probe.runs.lock().unwrap().push(Run {
            handler,
            worker: self.name.clone(),
            n,
            at: Instant::now(),
            envelope: ctx.envelope().clone(),
        });
    }
}

#[subscribe(group = "billing")]
fn bill(placed: &Placed, worker: State<Worker>, ctx: &Context) {
    worker.record("bill", placed.n, ctx);
}

#[subscribe(group = "shipping")]
fn ship(placed: &Placed, worker: State<Worker>, ctx: &Context) {
    worker.record("ship", placed.n, ctx);
}

#[subscribe]
fn audit(placed: &Placed, worker: State<Worker>, ctx: &Context) {
    worker.record("audit", placed.n, ctx);
}

#[subscribe(group = "flaky")]
fn always_fails(flaky: &Flaky, worker: State<Worker>, ctx: &Context) -> Result<(), String> {
    worker.record("always_fails", flaky.n, ctx);
    Err(format!("card {} declined", flaky.n))
}

#[subscribe(group = "flaky")]
fn works(flaky: &Flaky, worker: State<Worker>, ctx: &Context) {
    worker.record("works", flaky.n, ctx);
}

#[subscribe(group = "slow")]
async fn slow_work(slow: &Slow, worker: State<Worker>, ctx: &Context) {
    worker.record("slow_started", slow.n, ctx);
    let hold = if worker.hang {
        Duration::from_secs(3600)
    } else {
        Duration::from_millis(150)
    };
    tokio::time::sleep(hold).await;
    worker.record("slow_done", slow.n, ctx);
}

#[subscribe(group = "background", mode = "background")]
async fn in_background(_: &Placed) {}

fn bus(name: &str, probe: &Arc<Probe>) -> Bus {
    worker_bus(name, probe, false)
}

/// A bus with the test's probe, as worker `name`.
fn builder(name: &str, probe: &Arc<Probe>, hang: bool) -> eventbus::BusBuilder {
    Bus::builder().state(Worker {
        name: name.into(),
        probe: Arc::clone(probe),
        hang,
    })
}

/// The broker under a prefix of this test's, and a probe; `None` when the
/// test is skipped.
async fn setup() -> Option<(Broker, RabbitMq, Arc<Probe>)> {
    let broker = Broker::find().await?;
    let rabbit = broker.rabbit();
    Some((broker, rabbit, Arc::new(Probe::default())))
}

fn worker_bus(name: &str, probe: &Arc<Probe>, hang: bool) -> Bus {
    builder(name, probe, hang)
        .remote_groups(["billing", "shipping", "flaky", "slow", "background"])
        .build()
        .unwrap()
}

/// A consumer of `group` on `bus`, prefetch `prefetch`.
async fn consume(rabbit: &RabbitMq, bus: &Bus, group: &str, prefetch: u16) -> Consumer {
    rabbit
        .consume(bus)
        .group(group)
        .prefetch(prefetch)
        .start()
        .await
        .unwrap()
}

/// A bus whose grouped handlers all run elsewhere, publishing to the broker.
fn publisher(rabbit: &RabbitMq, probe: &Arc<Probe>) -> Bus {
    builder("publisher", probe, false)
        .remote_groups(["billing", "shipping", "flaky", "slow"])
        .sink("rabbitmq", rabbit.sink().unwrap())
        .build()
        .unwrap()
}

fn handler_path(name: &str) -> String {
    eventbus::linked_handlers()
        .into_iter()
        .find(|handler| handler.handler_name().ends_with(&format!("::{name}")))
        .unwrap()
        .handler_name()
        .to_owned()
}

fn header(delivery: &lapin::message::Delivery, key: &str) -> Option<AMQPValue> {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(key).cloned())
}

fn text(value: Option<AMQPValue>) -> String {
    match value {
        Some(AMQPValue::LongString(text)) => String::from_utf8(text.as_bytes().to_vec()).unwrap(),
        other => panic!("not a text header: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_shares_the_work_and_every_group_gets_everything() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let mut consumers = Vec::new();
    let mut buses = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let bus = bus(name, &probe);
        consumers.push(consume(&rabbit, &bus, "billing", 32).await);
        buses.push(bus);
    }
    let shipping_bus = bus("s1", &probe);
    consumers.push(consume(&rabbit, &shipping_bus, "shipping", 32).await);

    let publishing = publisher(&rabbit, &probe);
    for n in 0..1000 {
        publishing.emit(Placed { n }).await.unwrap();
    }
    publishing.flush().await;
    assert_eq!(publishing.sinks()[0].sent, 1000);

    until(Duration::from_secs(60), "1,000 billed and shipped", || {
        probe.count("bill") >= 1000 && probe.count("ship") >= 1000
    })
    .await;
    // Anything more would arrive now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let billed = probe.runs("bill");
    assert_eq!(billed.len(), 1000);
    let distinct: BTreeSet<u32> = billed.iter().map(|run| run.n).collect();
    assert_eq!(distinct.len(), 1000);
    let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
    for run in &billed {
        *per_worker.entry(run.worker.clone()).or_default() += 1;
    }
    assert_eq!(
        per_worker.keys().cloned().collect::<Vec<_>>(),
        ["w1", "w2", "w3"],
        "every worker of the group took a share: {per_worker:?}"
    );
    let shipped = probe.runs("ship");
    assert_eq!(shipped.len(), 1000);
    assert!(shipped.iter().all(|run| run.worker == "s1"));
    assert_eq!(
        shipped
            .iter()
            .map(|run| run.n)
            .collect::<BTreeSet<_>>()
            .len(),
        1000
    );
    // The ungrouped handler ran in the publishing process only.
    let audited = probe.runs("audit");
    assert_eq!(audited.len(), 1000);
    assert!(audited.iter().all(|run| run.worker == "publisher"));
    // What came over the wire says so.
    assert!(billed
        .iter()
        .all(|run| run.envelope.origin == Origin::Remote
            && run.envelope.source.as_deref() == Some("rabbitmq")));

    // Counted once each ack is sent, just after the handler.
    until(Duration::from_secs(10), "2,000 acks", || {
        consumers
            .iter()
            .map(|consumer| consumer.stats().acked)
            .sum::<u64>()
            == 2000
    })
    .await;
    for consumer in consumers {
        assert_eq!(consumer.stats().duplicates, 0);
        consumer.shutdown().await;
    }
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_messages_go_to_the_others() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let publishing = publisher(&rabbit, &probe);
    for n in 0..100 {
        publishing.emit(Slow { n }).await.unwrap();
    }
    publishing.flush().await;

    // A worker on a runtime of its own takes 10 messages and hangs in
    // them; then its runtime, connection and all, is dropped: killed
    // before it acked anything.
    let doomed = {
        let rabbit = rabbit.clone();
        let probe = Arc::clone(&probe);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let consumer = runtime.block_on(async {
                let bus = worker_bus("doomed", &probe, true);
                let consumer = consume(&rabbit, &bus, "slow", 10).await;
                until(
                    Duration::from_secs(10),
                    "the doomed worker to take 10",
                    || probe.count("slow_started") == 10,
                )
                .await;
                consumer
            });
            runtime.shutdown_background();
            drop(consumer);
        })
    };
    doomed.join().unwrap();
    assert_eq!(probe.count("slow_started"), 10);
    assert_eq!(probe.count("slow_done"), 0);

    let survivor_bus = bus("survivor", &probe);
    let survivor = consume(&rabbit, &survivor_bus, "slow", 50).await;
    until(Duration::from_secs(60), "100 done by the survivor", || {
        probe.count("slow_done") >= 100
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = probe.runs("slow_done");
    assert_eq!(done.len(), 100);
    assert!(done.iter().all(|run| run.worker == "survivor"));
    assert_eq!(
        done.iter().map(|run| run.n).collect::<BTreeSet<_>>().len(),
        100
    );
    survivor.shutdown().await;
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_handler_walks_the_retry_tiers_alone_then_dies_and_redrive_brings_it_back() {
    let Some(broker) = Broker::find().await else {
        return;
    };
    let rabbit = broker.rabbit().retry_tiers([
        Duration::from_millis(300),
        Duration::from_millis(600),
        Duration::from_millis(900),
    ]);
    let probe = Arc::new(Probe::default());
    let worker = bus("w", &probe);
    let consumer = consume(&rabbit, &worker, "flaky", 32).await;
    let publishing = publisher(&rabbit, &probe);
    publishing.emit(Flaky { n: 7 }).await.unwrap();
    publishing.flush().await;
    let dead_queue = rabbit.queues("flaky").dead;

    until(
        Duration::from_secs(20),
        "the message in the dead queue",
        || probe.count("always_fails") >= 4,
    )
    .await;
    let mut dead = None;
    for _ in 0..200 {
        dead = broker.take(&dead_queue).await;
        if dead.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = dead.expect("a dead message");

    let tries = probe.runs("always_fails");
    assert_eq!(tries.len(), 4, "the first try and one per tier");
    let gaps: Vec<Duration> = tries
        .windows(2)
        .map(|pair| pair[1].at - pair[0].at)
        .collect();
    for (gap, tier) in gaps.iter().zip([300, 600, 900]) {
        assert!(
            *gap >= Duration::from_millis(tier) && *gap < Duration::from_millis(tier + 2000),
            "gaps {gaps:?}"
        );
    }
    assert_eq!(
        probe.count("works"),
        1,
        "only the failed handler runs again"
    );
    let id = tries[0].envelope.id;
    assert!(tries.iter().all(|run| run.envelope.id == id));

    // The dead message: the original body and properties, and why.
    assert_eq!(dead.data, br#"{"n":7}"#);
    assert_eq!(
        dead.properties.message_id().as_ref().unwrap().as_str(),
        id.to_string()
    );
    assert_eq!(
        dead.properties.kind().as_ref().unwrap().as_str(),
        "rmq.flaky"
    );
    assert_eq!(
        text(header(&dead, "eventbus-handler")),
        handler_path("always_fails")
    );
    assert_eq!(text(header(&dead, "eventbus-error")), "card 7 declined");
    assert_eq!(
        header(&dead, "eventbus-attempts"),
        Some(AMQPValue::LongInt(4))
    );
    // Counted once the broker confirmed the move, which may come after
    // the message can be taken.
    until(Duration::from_secs(5), "the move counted", || {
        consumer.stats().dead == 1
    })
    .await;
    let stats = consumer.stats();
    assert_eq!((stats.retried, stats.dead, stats.acked), (3, 1, 0));

    // Put it back, as taken: the handler runs again, alone.
    broker
        .publish("", &dead_queue, &dead.data, dead.properties.clone())
        .await;
    assert_eq!(rabbit.redrive("flaky").await.unwrap(), 1);
    until(
        Duration::from_secs(20),
        "the redriven message tried again",
        || probe.count("always_fails") >= 8,
    )
    .await;
    until(Duration::from_secs(5), "it to die again", || {
        consumer.stats().dead == 2
    })
    .await;
    assert_eq!(probe.count("always_fails"), 8);
    assert_eq!(probe.count("works"), 1);
    assert_eq!(rabbit.redrive("flaky").await.unwrap(), 1);
    consumer.shutdown().await;
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_id_handled_once_runs_once() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    // An async handler, so the copies are in hand at the same time.
    let consumer = consume(&rabbit, &worker, "slow", 32).await;
    let id = Uuid::now_v7();
    let properties = BasicProperties::default()
        .with_message_id(id.to_string().into())
        .with_type("rmq.slow".into());
    for _ in 0..3 {
        broker
            .publish(
                &broker.prefix,
                "rmq.slow",
                br#"{"n":1}"#,
                properties.clone(),
            )
            .await;
    }
    until(Duration::from_secs(10), "three copies settled", || {
        let stats = consumer.stats();
        stats.acked + stats.duplicates == 3
    })
    .await;
    assert_eq!(probe.count("slow_started"), 1);
    assert_eq!(probe.count("slow_done"), 1);
    let stats = consumer.stats();
    assert_eq!((stats.acked, stats.duplicates, stats.dead), (1, 2, 0));
    consumer.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreadable_messages_go_to_the_dead_queue_at_once() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    let consumer = consume(&rabbit, &worker, "billing", 32).await;
    let undecodable = BasicProperties::default().with_message_id(Uuid::now_v7().to_string().into());
    broker
        .publish(&broker.prefix, "rmq.placed", b"not json", undecodable)
        .await;
    let misnamed = BasicProperties::default().with_type("rmq.plcaed".into());
    broker
        .publish(&broker.prefix, "rmq.placed", br#"{"n":1}"#, misnamed)
        .await;
    until(Duration::from_secs(10), "two dead messages", || {
        consumer.stats().dead == 2
    })
    .await;
    let dead = rabbit.queues("billing").dead;
    let first = broker.take(&dead).await.unwrap();
    let second = broker.take(&dead).await.unwrap();
    assert_eq!(first.data, b"not json");
    assert_eq!(
        text(header(&first, "eventbus-error")),
        "the JSON for event `rmq.placed` does not decode into `rabbitmq::Placed`: expected \
         ident at line 1 column 2"
    );
    assert_eq!(
        header(&first, "eventbus-attempts"),
        Some(AMQPValue::LongInt(1))
    );
    assert_eq!(header(&first, "eventbus-handler"), None);
    assert_eq!(second.data, br#"{"n":1}"#);
    let error = text(header(&second, "eventbus-error"));
    assert!(
        error.contains("rmq.plcaed") && error.contains("rmq.placed"),
        "{error}"
    );
    // The name the routing key told is kept for a redrive.
    assert_eq!(
        second.properties.kind().as_ref().unwrap().as_str(),
        "rmq.plcaed"
    );
    assert_eq!(probe.count("bill"), 0);
    assert_eq!(consumer.stats().retried, 0);
    consumer.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_amqp_client_reaches_the_handlers() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    let consumer = consume(&rabbit, &worker, "billing", 32).await;
    let (id, correlation, causation) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut headers = FieldTable::default();
    headers.insert("eventbus-version".into(), AMQPValue::LongInt(1));
    headers.insert(
        "eventbus-causation-id".into(),
        AMQPValue::LongString(causation.to_string().into()),
    );
    headers.insert(
        "eventbus-timestamp".into(),
        AMQPValue::LongString("2026-12-07T08:09:10.123456Z".into()),
    );
    let pinned = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(id.to_string().into())
        .with_correlation_id(correlation.to_string().into())
        .with_timestamp(1_796_544_550)
        .with_type("rmq.placed".into())
        .with_headers(headers);
    broker
        .publish(&broker.prefix, "rmq.placed", br#"{"n":41}"#, pinned)
        .await;
    // The least a foreign publisher sends: a routing key and a body.
    broker
        .publish(
            &broker.prefix,
            "rmq.placed",
            br#"{"n":42}"#,
            BasicProperties::default(),
        )
        .await;
    until(Duration::from_secs(10), "both handled", || {
        probe.count("bill") == 2
    })
    .await;
    let runs = probe.runs("bill");
    let pinned = runs.iter().find(|run| run.n == 41).unwrap();
    assert_eq!(pinned.envelope.id, id);
    assert_eq!(pinned.envelope.correlation_id, correlation);
    assert_eq!(pinned.envelope.causation_id, Some(causation));
    assert_eq!(
        pinned.envelope.timestamp,
        std::time::UNIX_EPOCH + Duration::new(1_796_630_950, 123_456_000)
    );
    let bare = runs.iter().find(|run| run.n == 42).unwrap();
    assert_eq!(bare.envelope.id.get_version_num(), 7);
    assert_eq!(bare.envelope.correlation_id, bare.envelope.id);
    assert_eq!(bare.envelope.causation_id, None);
    consumer.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sink_publishes_the_pinned_format_and_never_echoes() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    // Named otherwise than its source, so the sink itself must leave out
    // what came from RabbitMQ.
    let publishing = builder("publisher", &probe, false)
        .remote_groups(["billing", "shipping", "flaky", "slow"])
        .sink("broker", rabbit.sink().unwrap())
        .build()
        .unwrap();
    let report = publishing.publish(Placed { n: 5 });
    let id = report.event_id();
    // An event that came from the broker is not published back.
    let echoed = EventRecord::new(
        "rmq.placed",
        1,
        br#"{"n":6}"#.to_vec(),
        Envelope::generate().with_source("rabbitmq"),
    );
    assert!(publishing.deliver(echoed).unwrap().is_ok());
    publishing.flush().await;
    assert_eq!(probe.count("audit"), 2);

    let queue = rabbit.queues("billing").main;
    assert_eq!(broker.ready(&queue).await, 1);
    let message = broker.take(&queue).await.unwrap();
    assert_eq!(message.data, br#"{"n":5}"#);
    assert_eq!(message.exchange.as_str(), broker.prefix);
    assert_eq!(message.routing_key.as_str(), "rmq.placed");
    let properties = &message.properties;
    assert_eq!(
        properties.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        properties.message_id().as_ref().unwrap().as_str(),
        id.to_string()
    );
    assert_eq!(
        properties.correlation_id().as_ref().unwrap().as_str(),
        id.to_string()
    );
    assert_eq!(properties.kind().as_ref().unwrap().as_str(), "rmq.placed");
    let envelope = probe
        .runs("audit")
        .into_iter()
        .find(|run| run.n == 5)
        .unwrap()
        .envelope;
    let seconds = envelope
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(*properties.timestamp(), Some(seconds));
    assert_eq!(
        header(&message, "eventbus-version"),
        Some(AMQPValue::LongLongInt(1))
    );
    assert_eq!(header(&message, "eventbus-causation-id"), None);
    assert_eq!(
        text(header(&message, "eventbus-timestamp")),
        eventbus::rabbitmq::wire::rfc3339(envelope.timestamp)
    );
    assert_eq!(
        text(header(&message, "eventbus-timestamp")).len(),
        "2026-12-07T08:09:10.123456Z".len()
    );
    // A follow-up names its cause.
    let cause = Uuid::now_v7();
    let follow_up = EventRecord::new(
        "rmq.placed",
        1,
        br#"{"n":7}"#.to_vec(),
        Envelope::generate().with_causation_id(Some(cause)),
    );
    assert!(publishing.deliver(follow_up).unwrap().is_ok());
    publishing.flush().await;
    let message = broker.take(&queue).await.unwrap();
    assert_eq!(message.data, br#"{"n":7}"#);
    assert_eq!(
        text(header(&message, "eventbus-causation-id")),
        cause.to_string()
    );
    // Every group's queue got them; one nobody consumes waits.
    assert_eq!(broker.ready(&rabbit.queues("shipping").main).await, 2);
    assert_eq!(broker.ready(&rabbit.queues("flaky").main).await, 0);
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_and_acks_what_is_in_hand() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let publishing = publisher(&rabbit, &probe);
    for n in 0..40 {
        publishing.emit(Slow { n }).await.unwrap();
    }
    publishing.flush().await;
    let first_bus = bus("first", &probe);
    let first = consume(&rabbit, &first_bus, "slow", 4).await;
    until(Duration::from_secs(10), "four in hand", || {
        probe.count("slow_started") >= 4
    })
    .await;
    first.shutdown().await;
    first_bus.shutdown().await;
    let started = probe.count("slow_started");
    let done = probe.count("slow_done");
    assert_eq!(started, done, "every message in hand was finished");
    let queue = rabbit.queues("slow").main;
    assert_eq!(broker.ready(&queue).await as usize, 40 - done);

    let second_bus = bus("second", &probe);
    let second = consume(&rabbit, &second_bus, "slow", 40).await;
    until(Duration::from_secs(30), "all 40 done", || {
        probe.count("slow_done") >= 40
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let numbers: Vec<u32> = probe.runs("slow_done").iter().map(|run| run.n).collect();
    assert_eq!(numbers.len(), 40);
    assert_eq!(numbers.iter().collect::<BTreeSet<_>>().len(), 40);
    second.shutdown().await;
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shut_down_bus_hands_messages_back() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    let consumer = consume(&rabbit, &worker, "billing", 32).await;
    worker.shutdown().await;
    let publishing = publisher(&rabbit, &probe);
    for n in 0..5 {
        publishing.emit(Placed { n }).await.unwrap();
    }
    publishing.flush().await;
    until(Duration::from_secs(10), "a message handed back", || {
        consumer.stats().requeued >= 1
    })
    .await;
    // The consumer stopped fetching at the first: no hot loop of
    // redeliveries towards the delivery limit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requeued = consumer.stats().requeued;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(consumer.stats().requeued, requeued);
    assert!(requeued <= 5, "{requeued}");
    consumer.shutdown().await;
    assert_eq!(probe.count("bill"), 0);
    assert_eq!(broker.ready(&rabbit.queues("billing").dead).await, 0);
    // Nothing lost: all five wait for another consumer.
    let queue = rabbit.queues("billing").main;
    let mut ready = 0;
    for _ in 0..100 {
        ready = broker.ready(&queue).await;
        if ready == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 5);
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_with_other_arguments_is_a_clear_error() {
    let Some(broker) = Broker::find().await else {
        return;
    };
    let rabbit = broker.rabbit();
    let queue = rabbit.queues("billing").main;
    broker
        .channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let worker = bus("w", &probe);
    let error = rabbit
        .consume(&worker)
        .group("billing")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, RabbitError::Mismatch { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("queue `{queue}` exists with other arguments: ")),
        "{message}"
    );
    assert!(message.contains("inequivalent arg"), "{message}");
    assert!(message.contains("x-"), "{message}");
    assert!(
        message.ends_with("or use another prefix (`RabbitMq::prefix`)"),
        "{message}"
    );
    broker.clean().await;
}

#[tokio::test]
async fn bad_settings_are_errors_that_say_what_to_write() {
    let probe = Arc::new(Probe::default());
    let worker = bus("w", &probe);
    let unknown = RabbitMq::new(rabbit::url())
        .consume(&worker)
        .group("biling")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "no handler is in group `biling`, so a consumer of it would run nothing; groups with \
         handlers: background, billing, flaky, shipping, slow; add `#[subscribe(group = \"biling\")]` to a \
         handler, link the crate that has it (`use my_handlers as _;`), or consume another group"
    );
    let local = builder("local", &probe, false).build().unwrap();
    let not_on_bus = RabbitMq::new(rabbit::url())
        .consume(&local)
        .group("billing")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        not_on_bus.to_string(),
        "the handlers of group `billing` are not part of this bus: build it with \
         `Bus::builder().remote_groups([\"billing\"])`, so that the broker's messages run them \
         and a local publish leaves them to the broker"
    );
    let no_group = RabbitMq::new(rabbit::url())
        .consume(&worker)
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        no_group.to_string(),
        "a consumer serves one group: write `.consume(&bus).group(\"billing\")`"
    );
    let background = RabbitMq::new(rabbit::url())
        .consume(&worker)
        .group("background")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        background.to_string(),
        "`rabbitmq::in_background` in group `background` runs in the background (`mode = \
         \"background\"`): nobody waits for it, so its message would be acked before it ran \
         and its failures never retried; leave the mode out (an async handler is awaited) or \
         move it out of the group"
    );
    let url = RabbitMq::new("http://guest:secret@127.0.0.1/")
        .sink()
        .unwrap_err()
        .to_string();
    assert!(
        url.starts_with("`http://guest:***@127.0.0.1/` is not an AMQP URL ("),
        "{url}"
    );
    assert!(!url.contains("secret"));
    let prefix = RabbitMq::new(rabbit::url())
        .prefix("my prefix")
        .sink()
        .unwrap_err();
    assert_eq!(
        prefix.to_string(),
        "the prefix `my prefix` cannot name an exchange and queues: use letters, digits, \
         `-`, `_` and `.`, e.g. `eventbus`"
    );
    let tier = RabbitMq::new(rabbit::url())
        .retry_tiers([Duration::ZERO])
        .sink()
        .unwrap_err();
    assert_eq!(
        tier.to_string(),
        "a retry tier of 0ns cannot be a queue's message TTL: give each tier between 1 ms \
         and about 24 days"
    );
}

/// A process of `examples/distributed.rs`, its output read as it comes.
struct Program {
    group: &'static str,
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Program {
    /// Builds the example once.
    fn build() -> String {
        let root = env!("CARGO_MANIFEST_DIR");
        let built = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--example",
                "distributed",
                "--features",
                "rabbitmq",
            ])
            .current_dir(root)
            .status()
            .unwrap();
        assert!(built.success());
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
        format!("{target}/debug/examples/distributed")
    }

    fn command(program: &str, prefix: &str, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        command
            .args(args)
            .env("AMQP_URL", rabbit::url())
            .env("EVENTBUS_RABBITMQ_PREFIX", prefix)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        command
    }

    fn worker(program: &str, prefix: &str, group: &'static str) -> Self {
        use std::io::{BufRead, BufReader};

        let mut child = Self::command(program, prefix, &["worker", group])
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    lines.lock().unwrap().push(line.unwrap());
                }
            })
        };
        Self {
            group,
            child,
            lines,
            reader,
        }
    }

    /// Orders handled so far (the first line says it is waiting).
    fn handled(&self) -> usize {
        self.lines.lock().unwrap().len().saturating_sub(1)
    }

    /// Ctrl-c, then the items of the orders it handled.
    fn interrupt(mut self) -> Vec<String> {
        let interrupted = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        assert!(
            self.child.wait().unwrap().success(),
            "ctrl-c ends a worker cleanly"
        );
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap();
        // "[billing 1234] invoice for 3 x order-17 (user 17)"
        lines[1..]
            .iter()
            .map(|line| {
                let item = line.split(" x ").nth(1).unwrap();
                item.split(' ').next().unwrap().to_owned()
            })
            .collect()
    }
}

/// The README's walk-through: three `billing` workers and a `shipping`
/// worker of `examples/distributed.rs`, then `publish 1000`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_distributed_example_shares_the_work_as_the_readme_shows() {
    let Some(broker) = Broker::find().await else {
        return;
    };
    let program = Program::build();
    let workers: Vec<Program> = ["billing", "billing", "billing", "shipping"]
        .into_iter()
        .map(|group| Program::worker(&program, &broker.prefix, group))
        .collect();
    for worker in &workers {
        until(Duration::from_secs(30), "the workers to start", || {
            worker.lines.lock().unwrap().len() == 1
        })
        .await;
        let first = worker.lines.lock().unwrap()[0].clone();
        let group = worker.group;
        assert!(
            first.starts_with(&format!("[{group} "))
                && first.ends_with(&format!(
                    "] waiting for orders on `{}.{group}`; ctrl-c to stop",
                    broker.prefix
                )),
            "{first}"
        );
    }

    let publish = Program::command(&program, &broker.prefix, &["publish", "1000"])
        .output()
        .unwrap();
    assert!(publish.status.success());
    assert_eq!(
        String::from_utf8(publish.stdout).unwrap(),
        "published 1000 orders to RabbitMQ\n"
    );
    until(
        Duration::from_secs(60),
        "every order billed and shipped",
        || {
            workers[..3].iter().map(Program::handled).sum::<usize>() >= 1000
                && workers[3].handled() >= 1000
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut billed = BTreeSet::new();
    let mut shares = Vec::new();
    let mut shipped = Vec::new();
    for worker in workers {
        if worker.group == "billing" {
            let items = worker.interrupt();
            shares.push(items.len());
            billed.extend(items);
        } else {
            shipped = worker.interrupt();
        }
    }
    assert_eq!(shares.iter().sum::<usize>(), 1000, "each order billed once");
    assert!(
        shares.iter().all(|share| *share > 0),
        "every billing worker took a share: {shares:?}"
    );
    assert_eq!(billed.len(), 1000);
    assert_eq!(shipped.len(), 1000);
    assert_eq!(shipped.into_iter().collect::<BTreeSet<_>>(), billed);
    assert!(billed.contains("order-1") && billed.contains("order-1000"));
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_journal_the_sink_is_fed_from_the_log() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let journal = eventbus::MemoryJournal::new();
    let publishing = builder("publisher", &probe, false)
        .remote_groups(["billing", "shipping", "flaky", "slow"])
        .journal(journal.clone())
        .sink("rabbitmq", rabbit.sink().unwrap())
        .build()
        .unwrap();
    for n in 0..3 {
        publishing.emit(Placed { n }).await.unwrap();
    }
    publishing.flush().await;
    assert_eq!(journal.records().len(), 3);
    let queue = rabbit.queues("billing").main;
    assert_eq!(broker.ready(&queue).await, 3);
    let mut ids = Vec::new();
    while let Some(message) = broker.take(&queue).await {
        ids.push(
            message
                .properties
                .message_id()
                .as_ref()
                .unwrap()
                .to_string(),
        );
    }
    let logged: Vec<String> = journal
        .records()
        .iter()
        .map(|logged| logged.record.envelope.id.to_string())
        .collect();
    assert_eq!(ids, logged);
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_that_crash_loops_its_consumers_stops_at_the_delivery_limit() {
    use lapin::options::{BasicGetOptions, BasicNackOptions};

    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let publishing = publisher(&rabbit, &probe);
    publishing.emit(Placed { n: 1 }).await.unwrap();
    publishing.flush().await;
    // A consumer that dies on the message every time: handed back
    // without an ack, again and again.
    let queues = rabbit.queues("billing");
    let mut deliveries = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        assert!(
            Instant::now() < deadline,
            "the delivery limit never stopped it"
        );
        let got = broker
            .channel
            .basic_get(
                queues.main.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .unwrap();
        if let Some(message) = got {
            deliveries += 1;
            message
                .delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
                .unwrap();
        } else if let Some(dead) = broker.take(&queues.dead).await {
            break dead;
        } else {
            // Handed back, not yet ready again.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert_eq!(deliveries, eventbus::rabbitmq::DELIVERY_LIMIT + 1);
    assert_eq!(dead.data, br#"{"n":1}"#);
    publishing.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_whose_queue_vanished_declares_it_again() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    let consumer = consume(&rabbit, &worker, "billing", 32).await;
    // Someone deletes the group's queue under the consumer: the broker
    // cancels it; it reconnects and declares the queue and its bindings.
    let queue = rabbit.queues("billing").main;
    broker
        .channel
        .queue_delete(
            queue.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    until(Duration::from_secs(20), "the consumer back", || {
        consumer.stats().reconnects == 1
    })
    .await;
    broker
        .publish(
            &broker.prefix,
            "rmq.placed",
            br#"{"n":3}"#,
            BasicProperties::default(),
        )
        .await;
    until(
        Duration::from_secs(10),
        "the message handled and acked",
        || consumer.stats().acked == 1,
    )
    .await;
    assert_eq!(probe.count("bill"), 1);
    consumer.shutdown().await;
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redrive_into_a_missing_queue_keeps_the_dead_messages() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let worker = bus("w", &probe);
    consume(&rabbit, &worker, "billing", 32)
        .await
        .shutdown()
        .await;
    let queues = rabbit.queues("billing");
    broker
        .publish("", &queues.dead, br#"{"n":9}"#, BasicProperties::default())
        .await;
    broker
        .channel
        .queue_delete(
            queues.main.as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    let error = rabbit.redrive("billing").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "queue `{}` does not exist: start a consumer of its group (it declares the group's \
             queues), then try again",
            queues.main
        )
    );
    let mut ready = 0;
    for _ in 0..100 {
        ready = broker.ready(&queues.dead).await;
        if ready == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready, 1, "the dead message stays where it was");
    broker.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sink_declares_only_the_groups_it_is_given() {
    let Some((broker, rabbit, probe)) = setup().await else {
        return;
    };
    let publishing = builder("publisher", &probe, false)
        .remote_groups(["billing"])
        .sink("rabbitmq", rabbit.sink().unwrap().only_groups(["billing"]))
        .build()
        .unwrap();
    publishing.emit(Placed { n: 1 }).await.unwrap();
    publishing.flush().await;
    assert_eq!(broker.ready(&rabbit.queues("billing").main).await, 1);
    let channel = broker.connection.create_channel().await.unwrap();
    let shipping = channel
        .queue_declare(
            rabbit.queues("shipping").main.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(
        shipping.is_err(),
        "no queue for a group the sink was not given"
    );
    publishing.shutdown().await;
    broker.clean().await;
}
