//! Messages per second through RabbitMQ (`AMQP_URL`, default the local
//! broker; skipped with a message when it is not reachable), 2,000 per
//! iteration, under a prefix of its own deleted at the end:
//!
//! - `rabbitmq/publish`: `emit(e).await` 2,000 times on a bus whose sink is
//!   `RabbitMq::sink()`, then `flush` (every message confirmed), beside
//!   raw lapin on a confirm channel: 2,000 `basic_publish` of the same body
//!   with the wire format's properties, then every confirm awaited. Both
//!   to the same exchange and routing key, into the group's quorum queue,
//!   purged after each iteration (untimed).
//! - `rabbitmq/consume`: 2,000 messages put in the group's queue (untimed),
//!   then a `Consumer` of the group (a no-op handler, prefetch 32) from
//!   `start` until `stats().acked` is 2,000 and `shutdown` returned, beside
//!   raw lapin: connect, `basic_qos(32)`, `basic_consume`, ack each delivery
//!   until 2,000, cancel and close. Both open their own connection.
//!
//! Run with `cargo bench --bench rabbitmq --features rabbitmq`.

// `criterion_group!` writes an undocumented public function.
#![allow(missing_docs)]

#[path = "support/order.rs"]
mod order;
mod support;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventbus::prelude::*;
use eventbus::rabbitmq::{wire, RabbitMq, DEFAULT_PREFETCH, DEFAULT_URL};
use eventbus::{Envelope, EventRecord, Uuid};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use order::{order, OrderPlaced, NAME};

/// Messages per iteration, on every side.
const MESSAGES: u64 = 2_000;

/// The consumer group of the bench's handler (`#[subscribe]` wants the
/// literal): its queue is `<prefix>.bench`.
const GROUP: &str = "bench";

/// The consumer's handler: nothing, so the transport is what is measured.
#[subscribe(group = "bench")]
fn noop(_: &OrderPlaced) {}

/// The sink's properties (the pinned wire format) but for `message_id`,
/// which [`with_id`] sets per message as the sink does; a fixed
/// `eventbus-timestamp`, which the sink formats per message.
fn template() -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(wire::VERSION.into(), AMQPValue::LongLongInt(1));
    let stamp = LongString::from("2025-01-01T00:00:00.000000Z");
    headers.insert(wire::TIMESTAMP.into(), AMQPValue::LongString(stamp));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_correlation_id(Uuid::now_v7().to_string().as_str().into())
        .with_timestamp(now.as_secs())
        .with_type(NAME.into())
        .with_headers(headers)
}

/// `template` with a new id: every message a new event, so the bus's
/// consumer counts none as a duplicate.
fn with_id(template: &BasicProperties) -> BasicProperties {
    let id = Uuid::now_v7().to_string();
    template.clone().with_message_id(id.as_str().into())
}

/// What raw lapin publishes: `count` messages of `body`, each published
/// on the confirm channel, then every confirm awaited (the baseline of
/// `publish`, and how `consume` fills the queue).
async fn publish_raw(channel: &Channel, exchange: &str, body: &[u8], count: u64) {
    let template = template();
    let mut confirms = Vec::new();
    for _ in 0..count {
        let options = BasicPublishOptions::default();
        let properties = with_id(&template);
        let confirm = channel
            .basic_publish(exchange.into(), NAME.into(), options, body, properties)
            .await
            .unwrap();
        confirms.push(confirm);
    }
    for confirm in confirms {
        assert!(confirm.await.unwrap().is_ack(), "the broker took it");
    }
}

/// What raw lapin consumes: a connection of its own, the same prefetch as
/// the bus's consumer, every delivery acked, then cancel and close.
async fn consume_raw(url: &str, queue: &str) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let qos = BasicQosOptions::default();
    channel.basic_qos(DEFAULT_PREFETCH, qos).await.unwrap();
    let options = BasicConsumeOptions::default();
    let mut deliveries = channel
        .basic_consume(queue.into(), "raw".into(), options, FieldTable::default())
        .await
        .unwrap();
    for _ in 0..MESSAGES {
        let delivery = deliveries.next().await.unwrap().unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    let cancel = BasicCancelOptions::default();
    channel.basic_cancel("raw".into(), cancel).await.unwrap();
    channel.close(200, "bye".into()).await.unwrap();
    connection.close(200, "bye".into()).await.unwrap();
}

/// Empties `queue`; how many messages it held.
async fn purge(channel: &Channel, queue: &str) -> u32 {
    let options = QueuePurgeOptions::default();
    channel.queue_purge(queue.into(), options).await.unwrap()
}

/// Times `iterations` runs of `timed`, each between `before` and `after`
/// (untimed), on `runtime`: one entry into the runtime per sample, the
/// same for every side.
fn each<B, T, A>(
    runtime: &tokio::runtime::Runtime,
    iterations: u64,
    before: impl Fn() -> B,
    timed: impl Fn() -> T,
    after: impl Fn() -> A,
) -> Duration
where
    B: Future<Output = ()>,
    T: Future<Output = ()>,
    A: Future<Output = ()>,
{
    runtime.block_on(async {
        let mut spent = Duration::ZERO;
        for _ in 0..iterations {
            before().await;
            let started = Instant::now();
            timed().await;
            spent += started.elapsed();
            after().await;
        }
        spent
    })
}

fn bench(c: &mut Criterion) {
    let runtime = support::runtime();
    let url = std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let connected = runtime.block_on(async {
        let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok::<_, lapin::Error>((connection, channel))
    });
    let (connection, channel) = match connected {
        Ok(connected) => connected,
        Err(error) => {
            eprintln!("skipped: RabbitMQ is not reachable at {url}: {error}");
            return;
        }
    };
    let prefix = format!("bench-{}", Uuid::now_v7().simple());
    let rabbit = RabbitMq::new(url.clone()).prefix(prefix.as_str());
    let queues = rabbit.queues(GROUP);
    let queue = queues.main.as_str();
    let body = EventRecord::from_event(&order(), Envelope::generate())
        .unwrap()
        .payload;
    let (publisher, worker) = runtime.block_on(async {
        let publisher = Bus::builder()
            .remote_groups([GROUP])
            .sink("rabbitmq", rabbit.sink().unwrap())
            .build()
            .unwrap();
        let worker = Bus::builder().remote_groups([GROUP]).build().unwrap();
        // The sink's first send declares the exchange, the group's queues
        // and the binding, for the baseline too.
        publisher.emit(order()).await.unwrap();
        publisher.flush().await;
        purge(&channel, queue).await;
        (publisher, worker)
    });

    let nothing = || async {};
    // After each publish: the queue held every message, then nothing.
    let emptied = || async {
        assert_eq!(u64::from(purge(&channel, queue).await), MESSAGES);
    };
    let mut group = c.benchmark_group("rabbitmq/publish");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("eventbus sink, emit + flush", |b| {
        let timed = || async {
            for _ in 0..MESSAGES {
                publisher.emit(order()).await.unwrap();
            }
            publisher.flush().await;
        };
        b.iter_custom(|iterations| each(&runtime, iterations, nothing, timed, emptied));
    });
    group.bench_function("raw lapin, publish + confirms", |b| {
        let timed = || publish_raw(&channel, rabbit.exchange(), &body, MESSAGES);
        b.iter_custom(|iterations| each(&runtime, iterations, nothing, timed, emptied));
    });
    group.finish();
    assert_eq!(publisher.sinks()[0].failed, 0, "no message may fail");

    // Before each consume: the queue filled by raw lapin, confirmed.
    let fill = || publish_raw(&channel, rabbit.exchange(), &body, MESSAGES);
    let mut group = c.benchmark_group("rabbitmq/consume");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("eventbus consumer, start to shutdown", |b| {
        let timed = || async {
            let consumer = rabbit.consume(&worker).group(GROUP).start().await.unwrap();
            while consumer.stats().acked < MESSAGES {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            consumer.shutdown().await;
        };
        b.iter_custom(|iterations| each(&runtime, iterations, fill, timed, nothing));
    });
    group.bench_function("raw lapin, connect to close", |b| {
        let timed = || consume_raw(&url, queue);
        b.iter_custom(|iterations| each(&runtime, iterations, fill, timed, nothing));
    });
    group.finish();
    // Every message consumed: none left.
    assert_eq!(runtime.block_on(purge(&channel, queue)), 0);

    runtime.block_on(async {
        publisher.shutdown().await;
        worker.shutdown().await;
        // A channel per delete: a failed one closes its channel.
        for name in queues.all() {
            let channel = connection.create_channel().await.unwrap();
            let _ = channel
                .queue_delete(name.into(), QueueDeleteOptions::default())
                .await;
        }
        let channel = connection.create_channel().await.unwrap();
        let options = ExchangeDeleteOptions::default();
        let _ = channel
            .exchange_delete(prefix.as_str().into(), options)
            .await;
        let _ = connection.close(200, "bye".into()).await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
