//! The broker for the RabbitMQ tests: found at `AMQP_URL` (default the
//! local one), a prefix of its own per test, and a plain AMQP client to
//! look at the queues as another program would.

// Each test binary that includes this uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use eventbus::rabbitmq::{RabbitMq, DEFAULT_URL};
use eventbus::Uuid;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

pub fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A test's own corner of the broker: a random prefix, and a plain client.
/// `None` (the test is skipped) when the broker is missing and this is not
/// CI; under CI a missing broker fails the test.
pub struct Broker {
    pub prefix: String,
    pub connection: Connection,
    pub channel: Channel,
}

impl Broker {
    pub async fn find() -> Option<Self> {
        let url = url();
        match Connection::connect(&url, ConnectionProperties::default()).await {
            Ok(connection) => {
                let channel = connection.create_channel().await.expect("a channel");
                Some(Self {
                    prefix: format!("test-{}", Uuid::now_v7().simple()),
                    connection,
                    channel,
                })
            }
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "RabbitMQ is needed at {url} ({error}); start it with \
                 `service rabbitmq-server start` or set AMQP_URL"
            ),
            Err(error) => {
                eprintln!("skipped: RabbitMQ is not reachable at {url}: {error}");
                None
            }
        }
    }

    /// The transport under this test's prefix, with short retry tiers.
    pub fn rabbit(&self) -> RabbitMq {
        RabbitMq::new(url())
            .prefix(&self.prefix)
            .retry_tiers([Duration::from_millis(200), Duration::from_millis(400)])
            .reconnect_delay(Duration::from_millis(50), Duration::from_millis(500))
    }

    /// Messages ready in `queue` (not those handed out and not yet acked).
    pub async fn ready(&self, queue: &str) -> u32 {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the queue exists")
            .message_count()
    }

    /// Takes the next message of `queue`, acked.
    pub async fn take(&self, queue: &str) -> Option<lapin::message::Delivery> {
        let message = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")?;
        Some(message.delivery)
    }

    /// Publishes as a plain AMQP client, confirmed.
    pub async fn publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) {
        let channel = self.connection.create_channel().await.expect("a channel");
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        let confirm = channel
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(confirm.is_ack(), "the broker took the message");
        let _ = channel.close(200, "bye".into()).await;
    }

    /// Deletes what this test declared: the exchange and every linked
    /// group's queues under the prefix.
    pub async fn clean(self) {
        let rabbit = self
            .rabbit()
            .retry_tiers(eventbus::rabbitmq::DEFAULT_RETRY_TIERS);
        let mut groups: Vec<String> = RabbitMq::linked_groups()
            .into_iter()
            .map(|(group, _)| group)
            .collect();
        groups.push("nobody".into());
        // A connection of its own: the test may have restarted the
        // broker under the first.
        let Ok(connection) = Connection::connect(&url(), ConnectionProperties::default()).await
        else {
            return;
        };
        // A channel per delete: one that finds nothing to delete may be
        // closed by the broker.
        for group in groups {
            for queue in rabbit.queues(&group).all() {
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .queue_delete(queue.into(), QueueDeleteOptions::default())
                        .await;
                    let _ = channel.close(200, "bye".into()).await;
                }
            }
        }
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .exchange_delete(
                    self.prefix.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
        let _ = connection.close(200, "bye".into()).await;
        let _ = self.connection.close(200, "bye".into()).await;
    }
}

/// Waits (up to `within`) until `done` holds; says what it waited for
/// otherwise.
pub async fn until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
