//! eventbus across processes on RabbitMQ: the same `#[subscribe]` handlers
//! run in many processes, each consumer group sharing a queue.
//!
//! - [`RabbitMq::sink`]: a [`Sink`](eventbus_core::Sink) that publishes
//!   every event the bus accepts, with publisher confirms, reconnecting
//!   and resending what was not confirmed.
//! - [`RabbitMq::consume`]: a [`Consumer`] of one group: the group's
//!   handlers run on each message (`Bus::deliver_to_group`), the message
//!   is acked after they ran ok; a failed handler is retried alone after
//!   each retry tier's delay, then dead-lettered; a message that cannot be
//!   read is dead-lettered at once.
//! - [`RabbitMq::redrive`]: moves a group's dead messages back to its
//!   queue.
//!
//! ```no_run
//! use eventbus::prelude::*;
//! use eventbus::rabbitmq::RabbitMq;
//!
//! #[derive(Event, serde::Serialize, serde::Deserialize)]
//! #[event(name = "order_placed")]
//! struct OrderPlaced {
//!     item: String,
//! }
//!
//! #[subscribe(group = "billing")]
//! fn bill(order: &OrderPlaced) {
//!     println!("billing {}", order.item);
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rabbit = RabbitMq::new("amqp://guest:guest@127.0.0.1:5672/%2f");
//! // A process that publishes: billing runs elsewhere.
//! let publisher = Bus::builder()
//!     .remote_groups(["billing"])
//!     .sink("rabbitmq", rabbit.sink()?)
//!     .build()?;
//! publisher.publish(OrderPlaced { item: "Book".into() });
//! publisher.flush().await;
//!
//! // A worker of the billing group (as many processes as needed): its
//! // billing handlers run on what the broker delivers.
//! let worker = Bus::builder().remote_groups(["billing"]).build()?;
//! let consumer = rabbit.consume(&worker).group("billing").start().await?;
//! // ... until it is time to stop:
//! consumer.shutdown().await;
//! worker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The wire format
//!
//! Pinned, so a plain AMQP client in any language interoperates:
//!
//! - Exchange `<prefix>` (default `eventbus`), topic, durable. Routing key:
//!   the event name.
//! - Body: the event's JSON. Properties: `content_type`
//!   `application/json`, `delivery_mode` 2, `message_id` the event id,
//!   `correlation_id`, `timestamp` (unix seconds), `type` the event name.
//!   Headers: `eventbus-version` (int), `eventbus-causation-id` (absent
//!   for a root event), `eventbus-timestamp` (RFC 3339, microseconds).
//! - From a foreign publisher: the name is `type`, else the routing key; a
//!   missing `message_id` gets a new UUID v7; missing headers take
//!   defaults.
//! - Group `g`: quorum queue `<prefix>.g` (`x-delivery-limit` 20,
//!   `x-dead-letter-exchange` "", `x-dead-letter-routing-key
//!   <prefix>.g.dead`, `x-dead-letter-strategy at-least-once`,
//!   `x-overflow reject-publish`), bound with each event name the group's
//!   handlers take; retry tiers `<prefix>.g.retry.1`, `.2`, ... (classic,
//!   durable, `x-message-ttl` the tier's delay, dead-lettering back to
//!   `<prefix>.g`; default 1 s, 10 s, 60 s); the dead queue
//!   `<prefix>.g.dead`. Retries and dead messages keep the body and
//!   properties (less the broker's own `x-death` history and a
//!   per-message `expiration`) and add `eventbus-handler` (absent when the
//!   message itself could not be read), `eventbus-error`,
//!   `eventbus-attempts`.

#![forbid(unsafe_code)]

mod consumer;
mod error;
mod link;
mod names;
mod publisher;
pub mod transport;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use eventbus_core::Bus;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

pub use consumer::{Consumer, ConsumerBuilder, ConsumerStats};
pub use error::RabbitError;
pub use names::{Queues, DELIVERY_LIMIT};
pub use publisher::RabbitSink;

use crate::link::Link;
use crate::names::short;

/// The broker's address when `AMQP_URL` is not set.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The default prefix of the exchange and queue names.
pub const DEFAULT_PREFIX: &str = "eventbus";
/// The default prefetch of a consumer.
pub const DEFAULT_PREFETCH: u16 = 32;
/// The default retry tiers: 1 s, 10 s, 60 s.
pub const DEFAULT_RETRY_TIERS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
];

/// The transport's settings: the broker, the names, the retry tiers. Cheap
/// to clone; hands out [`sink`](RabbitMq::sink)s and
/// [`consume`](RabbitMq::consume)rs.
#[derive(Debug, Clone)]
pub struct RabbitMq {
    settings: Arc<Settings>,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) prefetch: u16,
    pub(crate) retry_tiers: Vec<Duration>,
    /// First and longest wait between reconnects.
    pub(crate) reconnect: (Duration, Duration),
    /// How many message ids handled ok a consumer remembers.
    pub(crate) remember: usize,
    /// Whether links declare the retry tiers (consumers do, the sink
    /// does not).
    pub(crate) declares_tiers: bool,
}

impl Settings {
    pub(crate) fn queues(&self, group: &str) -> Queues {
        Queues::new(&self.prefix, group, self.retry_tiers.len())
    }

    /// The URL without its password, for messages.
    pub(crate) fn shown_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let credentials = &self.url[scheme + 3..at];
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{}{user}:***{}", &self.url[..scheme + 3], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }

    fn check(&self) -> Result<(), RabbitError> {
        self.url.parse::<lapin::uri::AMQPUri>().map_err(|why| {
            RabbitError::Config(format!(
                "`{}` is not an AMQP URL ({why}); write amqp://user:password@host:5672/%2f \
                     (or amqps:// for TLS)",
                self.shown_url()
            ))
        })?;
        if self.prefix.is_empty()
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(RabbitError::Config(format!(
                "the prefix `{}` cannot name an exchange and queues: use letters, digits, \
                 `-`, `_` and `.`, e.g. `eventbus`",
                self.prefix
            )));
        }
        if let Some(tier) = self
            .retry_tiers
            .iter()
            .find(|delay| delay.is_zero() || delay.as_millis() > i32::MAX as u128)
        {
            return Err(RabbitError::Config(format!(
                "a retry tier of {tier:?} cannot be a queue's message TTL: give each tier \
                 between 1 ms and about 24 days"
            )));
        }
        Ok(())
    }
}

impl RabbitMq {
    /// The transport for the broker at `url` (`amqp://user:password@host:5672/%2f`,
    /// or `amqps://` for TLS), with the defaults: prefix `eventbus`,
    /// prefetch 32, retry tiers 1 s, 10 s, 60 s. Nothing connects yet.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            settings: Arc::new(Settings {
                url: url.into(),
                prefix: DEFAULT_PREFIX.to_owned(),
                prefetch: DEFAULT_PREFETCH,
                retry_tiers: DEFAULT_RETRY_TIERS.to_vec(),
                reconnect: (Duration::from_millis(100), Duration::from_secs(5)),
                remember: 100_000,
                declares_tiers: true,
            }),
        }
    }

    /// The transport for the broker in the environment variable `AMQP_URL`,
    /// else [`DEFAULT_URL`], under the prefix in `EVENTBUS_RABBITMQ_PREFIX`,
    /// else [`DEFAULT_PREFIX`] (one broker, several environments).
    #[must_use]
    pub fn from_env() -> Self {
        let rabbit =
            Self::new(std::env::var("AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned()));
        match std::env::var("EVENTBUS_RABBITMQ_PREFIX") {
            Ok(prefix) => rabbit.prefix(prefix),
            Err(_) => rabbit,
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.settings));
        self
    }

    /// The prefix of every name: the exchange `<prefix>`, group queues
    /// `<prefix>.<group>` (default `eventbus`). Letters, digits, `-`, `_`,
    /// `.`.
    #[must_use]
    pub fn prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.with(|settings| settings.prefix = prefix)
    }

    /// The default prefetch of consumers (default 32).
    #[must_use]
    pub fn prefetch(self, messages: u16) -> Self {
        self.with(|settings| settings.prefetch = messages)
    }

    /// The delays of the retry tiers, in order (default 1 s, 10 s, 60 s):
    /// a handler that fails runs again after each, and after the last
    /// failure its message goes to the dead queue. No tiers: straight to
    /// the dead queue. The tiers are queues: changing them on a running
    /// system means a new prefix, or deleting the old tier queues.
    #[must_use]
    pub fn retry_tiers(self, delays: impl IntoIterator<Item = Duration>) -> Self {
        let delays = delays.into_iter().collect();
        self.with(|settings| settings.retry_tiers = delays)
    }

    /// The first and the longest wait between reconnects (default 100 ms
    /// doubling up to 5 s).
    #[must_use]
    pub fn reconnect_delay(self, first: Duration, longest: Duration) -> Self {
        self.with(|settings| settings.reconnect = (first, longest.max(first)))
    }

    /// How many message ids a consumer remembers as handled ok, so that a
    /// message delivered again runs nothing (default 100,000).
    #[must_use]
    pub fn remember(self, messages: usize) -> Self {
        self.with(|settings| settings.remember = messages)
    }

    /// The exchange: the prefix.
    #[must_use]
    pub fn exchange(&self) -> &str {
        &self.settings.prefix
    }

    /// The queues of consumer group `group`.
    #[must_use]
    pub fn queues(&self, group: &str) -> Queues {
        self.settings.queues(group)
    }

    /// Every consumer group that has handlers linked into this program,
    /// sorted, each with the event names its queue is bound with.
    #[must_use]
    pub fn linked_groups() -> Vec<(String, Vec<String>)> {
        let mut groups: std::collections::BTreeMap<String, Vec<String>> =
            std::collections::BTreeMap::new();
        for handler in eventbus_core::linked_handlers() {
            let Some(group) = handler.group() else {
                continue;
            };
            let Some(event) = names::binding_key(handler.event_name()) else {
                continue;
            };
            let events = groups.entry(group.to_owned()).or_default();
            if !events.iter().any(|known| known == event) {
                events.push(event.to_owned());
            }
        }
        groups.into_iter().collect()
    }

    /// A sink publishing every record to the exchange; see [`RabbitSink`].
    /// It connects on its first send.
    ///
    /// # Errors
    ///
    /// [`RabbitError::Config`] when the URL, the prefix or a retry tier
    /// cannot work.
    pub fn sink(&self) -> Result<RabbitSink, RabbitError> {
        self.settings.check()?;
        let groups = Self::linked_groups()
            .into_iter()
            .map(|(group, events)| (self.settings.queues(&group), events))
            .collect();
        let mut settings = Settings::clone(&self.settings);
        settings.declares_tiers = false;
        Ok(RabbitSink::new(Arc::new(settings), groups))
    }

    /// Sets up a consumer running `bus`'s handlers of one group:
    /// `rabbit.consume(&bus).group("billing").start().await?`.
    pub fn consume(&self, bus: &Bus) -> ConsumerBuilder {
        ConsumerBuilder::new(Arc::clone(&self.settings), bus.clone())
    }

    /// Moves the messages in `group`'s dead queue back to its queue, each
    /// confirmed before it leaves the dead queue; returns how many moved.
    /// A message that was dead for one handler runs only that handler
    /// again; its tries start over. Messages that die meanwhile wait for
    /// the next redrive.
    ///
    /// # Errors
    ///
    /// [`RabbitError::Connect`] when the broker cannot be reached,
    /// [`RabbitError::Broker`] when the dead queue does not exist or an
    /// operation fails (what moved so far stays moved).
    pub async fn redrive(&self, group: &str) -> Result<u64, RabbitError> {
        self.settings.check()?;
        let queues = self.queues(group);
        let link = Link::open(&self.settings).await?;
        let moved = self.redrive_on(&link, &queues).await;
        link.close(Duration::from_secs(5)).await;
        moved
    }

    async fn redrive_on(&self, link: &Link, queues: &Queues) -> Result<u64, RabbitError> {
        let dead = link
            .channel
            .queue_declare(
                short(&queues.dead),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|source| {
                RabbitError::broker(format!("find the dead queue `{}`", queues.dead), source)
            })?;
        let mut moved = 0;
        for _ in 0..dead.message_count() {
            let Some(message) = link
                .channel
                .basic_get(short(&queues.dead), BasicGetOptions { no_ack: false })
                .await
                .map_err(|source| {
                    RabbitError::broker(format!("get from `{}`", queues.dead), source)
                })?
            else {
                break;
            };
            let delivery = message.delivery;
            let mut remove = vec![wire::ERROR, wire::ATTEMPTS];
            remove.extend_from_slice(wire::DEATH_HEADERS);
            let properties = wire::with_headers(&delivery.properties, &[], &remove);
            match link::publish_to_queue(&link.channel, &queues.main, &delivery.data, properties)
                .await
            {
                Ok(()) => {
                    delivery
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(|source| RabbitError::broker("ack a dead message", source))?;
                    moved += 1;
                }
                Err(error) => {
                    let _ = delivery
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            multiple: false,
                        })
                        .await;
                    return Err(error);
                }
            }
        }
        Ok(moved)
    }
}
