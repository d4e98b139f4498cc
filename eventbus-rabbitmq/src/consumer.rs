//! [`Consumer`]: one consumer group's handlers run on the messages of its
//! queue, with acks, retry tiers, the dead queue and reconnects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventbus_core::{Bus, EventRecord};
use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Channel;
use tokio::sync::watch;

use crate::error::RabbitError;
use crate::link::{self, Link};
use crate::names::{binding_key, short, Queues};
use crate::transport::{Delivery, Failed, Judge, Next, Verdict};
use crate::wire::{self, ATTEMPTS, ERROR, HANDLER};
use crate::Settings;

/// How long a consumer's shutdown waits for the messages in hand, unless
/// [`ConsumerBuilder::shutdown_timeout`] says otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Sets up a [`Consumer`]; made by [`RabbitMq::consume`](crate::RabbitMq::consume).
#[derive(Debug)]
#[must_use = "a consumer starts with `start().await`"]
pub struct ConsumerBuilder {
    settings: Arc<Settings>,
    bus: Bus,
    group: Option<String>,
    prefetch: u16,
    shutdown_timeout: Duration,
}

impl ConsumerBuilder {
    pub(crate) fn new(settings: Arc<Settings>, bus: Bus) -> Self {
        let prefetch = settings.prefetch;
        Self {
            settings,
            bus,
            group: None,
            prefetch,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// The consumer group to serve: its queue `<prefix>.<group>` takes
    /// every event its handlers (`#[subscribe(group = "...")]`) take, and
    /// only they run. Required.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// How many messages the broker hands this consumer before it acks
    /// (default [`RabbitMq::prefetch`](crate::RabbitMq::prefetch), 32).
    /// Up to this many are in hand at once: async handlers of different
    /// messages overlap; sync handlers run one after another on the
    /// consumer's task.
    pub fn prefetch(mut self, messages: u16) -> Self {
        self.prefetch = messages;
        self
    }

    /// How long [`Consumer::shutdown`] waits for the messages in hand
    /// (default 30 s); what is not finished by then goes back to the queue
    /// unacked, for another consumer.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Connects, declares the group's queues (idempotently), and starts
    /// consuming on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`RabbitError::Config`] without a group or with a prefetch of 0,
    /// [`RabbitError::UnknownGroup`] when no handler is in the group,
    /// [`RabbitError::GroupNotOnBus`] when the bus leaves the group's
    /// handlers out (build it with `remote_groups([group])`), [`RabbitError::Connect`] when the broker cannot be reached
    /// (later losses are reconnected), [`RabbitError::Mismatch`] when a
    /// queue exists with other arguments.
    pub async fn start(self) -> Result<Consumer, RabbitError> {
        self.settings.check()?;
        let Some(group) = self.group else {
            return Err(RabbitError::Config(
                "a consumer serves one group: write `.consume(&bus).group(\"billing\")`".into(),
            ));
        };
        if self.prefetch == 0 {
            return Err(RabbitError::Config(
                "a prefetch of 0 would let the broker hand out unbounded messages; \
                 give 1 or more (the default is 32)"
                    .into(),
            ));
        }
        let events = group_events(&self.bus, &group);
        if events.is_empty() {
            let linked = crate::RabbitMq::linked_groups();
            if linked.iter().any(|(known, _)| *known == group) {
                return Err(RabbitError::GroupNotOnBus { group });
            }
            let known: Vec<String> = linked.into_iter().map(|(known, _)| known).collect();
            return Err(RabbitError::UnknownGroup {
                group,
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        if let Some(background) = self.bus.handlers().iter().find(|handler| {
            handler.group() == Some(group.as_str())
                && handler.mode() == eventbus_core::Mode::Background
        }) {
            return Err(RabbitError::Config(format!(
                "`{}` in group `{group}` runs in the background (`mode = \"background\"`): \
                 nobody waits for it, so its message would be acked before it ran and its \
                 failures never retried; leave the mode out (an async handler is awaited) \
                 or move it out of the group",
                background.handler_name()
            )));
        }
        let queues = self.settings.queues(&group);
        let topology = vec![(queues, events)];
        let link = Link::open(&self.settings).await?;
        link.declare_group(&self.settings, &topology[0].0, &topology[0].1)
            .await?;
        let tag = format!("{group}-{}", eventbus_core::Uuid::now_v7());
        let stream = subscribe(&link, &topology[0].0, &tag, self.prefetch).await?;
        let shared = Arc::new(Shared {
            judge: Judge::new(
                self.bus,
                &group,
                self.settings.retry_tiers.len(),
                self.settings.remember,
            ),
            settings: self.settings,
            topology,
            tag,
            prefetch: self.prefetch,
            shutdown_timeout: self.shutdown_timeout,
            counts: Counts::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::clone(&shared), link, stream, stopped));
        Ok(Consumer {
            shared,
            stop,
            task: Some(task),
        })
    }
}

/// The events a group's handlers on `bus` take, as binding keys: `#` for a
/// handler of every event.
fn group_events(bus: &Bus, group: &str) -> Vec<String> {
    let mut events: Vec<String> = bus
        .handlers()
        .iter()
        .filter(|handler| handler.group() == Some(group))
        .filter_map(|handler| binding_key(handler.event_name()))
        .map(str::to_owned)
        .collect();
    events.sort_unstable();
    events.dedup();
    events
}

async fn subscribe(
    link: &Link,
    queues: &Queues,
    tag: &str,
    prefetch: u16,
) -> Result<lapin::Consumer, RabbitError> {
    link.channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|source| RabbitError::broker("set the prefetch", source))?;
    link.channel
        .basic_consume(
            short(&queues.main),
            short(tag),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| RabbitError::broker(format!("consume `{}`", queues.main), source))
}

/// A running consumer of one group. Stop it with
/// [`shutdown`](Consumer::shutdown) before the bus's own shutdown;
/// dropping it stops fetching too, without waiting.
#[derive(Debug)]
pub struct Consumer {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Consumer {
    /// The group it serves.
    #[must_use]
    pub fn group(&self) -> &str {
        self.shared.judge.group()
    }

    /// What it has done so far.
    #[must_use]
    pub fn stats(&self) -> ConsumerStats {
        let counts = &self.shared.counts;
        ConsumerStats {
            acked: counts.acked.load(Ordering::Relaxed),
            duplicates: counts.duplicates.load(Ordering::Relaxed),
            retried: counts.retried.load(Ordering::Relaxed),
            dead: counts.dead.load(Ordering::Relaxed),
            requeued: counts.requeued.load(Ordering::Relaxed),
            reconnects: counts.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Stops in the pinned order: stops fetching (the broker hands what it
    /// had sent ahead to other consumers), finishes and acks the messages
    /// in hand, then closes its connection. Call it before
    /// [`Bus::shutdown`], which then flushes the sinks' confirms.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// What a [`Consumer`] has done, counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Messages acked after every handler ran ok (counted once the ack is
    /// sent).
    pub acked: u64,
    /// Messages whose id was handled ok before: acked, nothing ran.
    pub duplicates: u64,
    /// Handler failures sent to a retry tier.
    pub retried: u64,
    /// Failures sent to the dead queue.
    pub dead: u64,
    /// Messages handed back to the broker: the bus was shut down, its
    /// journal refused the event, or a retry could not be sent.
    pub requeued: u64,
    /// Times the connection was opened again after a loss.
    pub reconnects: u64,
}

#[derive(Debug, Default)]
struct Counts {
    acked: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    requeued: AtomicU64,
    reconnects: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    judge: Judge,
    settings: Arc<Settings>,
    topology: Vec<(Queues, Vec<String>)>,
    tag: String,
    prefetch: u16,
    shutdown_timeout: Duration,
    counts: Counts,
}

/// How a session on one connection ended.
enum Ended {
    /// Told to stop.
    Stopped,
    /// The bus takes nothing more.
    BusClosed(String),
    /// The connection is gone, or no longer answers.
    Lost(String),
}

/// How one message was settled.
enum Settled {
    Done,
    /// Handed back because the bus takes nothing more.
    BusClosed(String),
    /// The broker did not answer in time: the channel is not to be trusted.
    NoAnswer,
}

async fn run(
    shared: Arc<Shared>,
    mut link: Link,
    mut stream: lapin::Consumer,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match session(&shared, &link, &mut stream, &mut stopped).await {
            Ended::Stopped => {
                link.close(Duration::from_secs(5)).await;
                return;
            }
            Ended::BusClosed(why) => {
                tracing::info!(
                    group = shared.judge.group(),
                    %why,
                    "the bus takes nothing more; the consumer stops fetching"
                );
                link.close(Duration::from_secs(5)).await;
                return;
            }
            Ended::Lost(why) => {
                tracing::warn!(group = shared.judge.group(), %why, "lost RabbitMQ; reconnecting");
                link.close(Duration::from_secs(1)).await;
            }
        }
        loop {
            let reopened = async {
                let link = Link::open_with_backoff(&shared.settings, &shared.topology).await?;
                let stream =
                    subscribe(&link, &shared.topology[0].0, &shared.tag, shared.prefetch).await?;
                Ok::<_, RabbitError>((link, stream))
            };
            tokio::select! {
                () = until_stopped(&mut stopped) => return,
                reopened = reopened => match reopened {
                    Ok((new_link, new_stream)) => {
                        link = new_link;
                        stream = new_stream;
                        shared.counts.reconnects.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(error) => {
                        tracing::error!(group = shared.judge.group(), %error, "cannot consume");
                        tokio::select! {
                            () = until_stopped(&mut stopped) => return,
                            () = tokio::time::sleep(shared.settings.reconnect.1) => {}
                        }
                    }
                },
            }
        }
    }
}

/// Resolves once the consumer is told to stop (or its handle is gone).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Consumes on one connection until it is lost, the bus closes, or the
/// consumer stops; then finishes the messages in hand.
async fn session(
    shared: &Arc<Shared>,
    link: &Link,
    stream: &mut lapin::Consumer,
    stopped: &mut watch::Receiver<bool>,
) -> Ended {
    let mut in_hand = FuturesUnordered::new();
    let limit = usize::from(shared.prefetch);
    let ended = loop {
        tokio::select! {
            biased;
            () = until_stopped(stopped) => break Ended::Stopped,
            Some(settled) = in_hand.next(), if !in_hand.is_empty() => match settled {
                Settled::Done => {}
                Settled::BusClosed(why) => break Ended::BusClosed(why),
                Settled::NoAnswer => break Ended::Lost("RabbitMQ did not answer an ack in time".into()),
            },
            next = stream.next(), if in_hand.len() < limit => match next {
                Some(Ok(delivery)) => {
                    in_hand.push(handle(Arc::clone(shared), link.channel.clone(), delivery));
                }
                Some(Err(error)) => break Ended::Lost(error.to_string()),
                None => break Ended::Lost("the broker cancelled the consumer".into()),
            },
        }
    };
    match ended {
        Ended::Stopped | Ended::BusClosed(_) => {
            // Stop fetching; what the broker sent ahead goes back to it
            // when the channel closes. Then finish and ack what is in
            // hand, for as long as the shutdown allows: what is left goes
            // back unacked with the channel.
            let deadline = tokio::time::Instant::now() + shared.shutdown_timeout;
            let finishing = async {
                let _ = link
                    .channel
                    .basic_cancel(short(&shared.tag), BasicCancelOptions::default())
                    .await;
                while in_hand.next().await.is_some() {}
            };
            if tokio::time::timeout_at(deadline, finishing).await.is_err() {
                tracing::warn!(
                    group = shared.judge.group(),
                    timeout = ?shared.shutdown_timeout,
                    "messages still in hand at the shutdown timeout go back to the queue"
                );
            }
        }
        Ended::Lost(_) => {
            // The handlers in hand finish on their own (their ids are
            // remembered, so the broker's redelivery runs nothing again);
            // their acks cannot reach a lost connection, so reconnecting
            // does not wait for them.
            if !in_hand.is_empty() {
                tokio::spawn(async move { while in_hand.next().await.is_some() {} });
            }
        }
    }
    ended
}

/// How long settling one message (its forwards, confirms and ack) may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A message from the group's queue, read.
struct Message {
    delivery: lapin::message::Delivery,
    record: EventRecord,
    handler: Option<String>,
    tries: u32,
}

impl Message {
    fn read(delivery: lapin::message::Delivery) -> Self {
        let record = wire::record(
            &delivery.properties,
            delivery.routing_key.as_str(),
            &delivery.data,
        );
        let headers = delivery.properties.headers().as_ref();
        let handler = wire::header_text(headers, HANDLER);
        let tries = wire::header_int(headers, ATTEMPTS)
            .and_then(|tries| u32::try_from(tries).ok())
            .unwrap_or(0);
        Self {
            delivery,
            record,
            handler,
            tries,
        }
    }
}

impl Delivery for Message {
    fn record(&self) -> &EventRecord {
        &self.record
    }

    fn handler(&self) -> Option<&str> {
        self.handler.as_deref()
    }

    fn tries(&self) -> u32 {
        self.tries
    }
}

async fn handle(
    shared: Arc<Shared>,
    channel: Channel,
    delivery: lapin::message::Delivery,
) -> Settled {
    let message = Message::read(delivery);
    let verdict = shared.judge.judge(&message).await;
    let counts = &shared.counts;
    let acker = &message.delivery.acker;
    let requeue = BasicNackOptions {
        requeue: true,
        multiple: false,
    };
    let mut closed = None;
    // Each settles the message and names what to count once it is.
    let settling = async {
        match verdict {
            Verdict::Ack { duplicate } => {
                let counter = if duplicate {
                    &counts.duplicates
                } else {
                    &counts.acked
                };
                (acker.ack(BasicAckOptions::default()).await, Some(counter))
            }
            Verdict::Requeue(why) => {
                // Not at once: what refused it (the journal's database)
                // needs a while, and every return counts towards the
                // queue's delivery limit.
                tracing::warn!(%why, "handing a message back to RabbitMQ");
                tokio::time::sleep(shared.settings.reconnect.1).await;
                (acker.nack(requeue).await, Some(&counts.requeued))
            }
            Verdict::Closed(why) => {
                closed = Some(why);
                (acker.nack(requeue).await, Some(&counts.requeued))
            }
            Verdict::Failed(failures) => {
                match forward(&shared, &channel, &message, &failures).await {
                    Ok(()) => (acker.ack(BasicAckOptions::default()).await, None),
                    Err(error) => {
                        tracing::warn!(%error, "cannot move a failed message on; handing it back");
                        (acker.nack(requeue).await, Some(&counts.requeued))
                    }
                }
            }
        }
    };
    // A connection lost halfway may leave an ack or a confirm unanswered:
    // bounded, and the session then counts the connection as lost (an
    // unanswered delivery would hold a prefetch slot for good).
    match tokio::time::timeout(SETTLE_TIMEOUT, settling).await {
        Err(_) => Settled::NoAnswer,
        Ok((settled, counter)) => {
            match settled {
                Ok(_) => {
                    if let Some(counter) = counter {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // The channel is gone: the broker hands the message out
                // again.
                Err(error) => {
                    tracing::debug!(%error, "cannot settle a message; the broker redelivers it");
                }
            }
            closed.map_or(Settled::Done, Settled::BusClosed)
        }
    }
}

/// `properties` without a per-message TTL.
fn without_expiration(properties: lapin::BasicProperties) -> lapin::BasicProperties {
    if properties.expiration().is_none() {
        return properties;
    }
    let mut kept = lapin::BasicProperties::default();
    if let Some(value) = properties.content_type() {
        kept = kept.with_content_type(value.clone());
    }
    if let Some(value) = properties.content_encoding() {
        kept = kept.with_content_encoding(value.clone());
    }
    if let Some(value) = properties.headers() {
        kept = kept.with_headers(value.clone());
    }
    if let Some(value) = properties.delivery_mode() {
        kept = kept.with_delivery_mode(*value);
    }
    if let Some(value) = properties.priority() {
        kept = kept.with_priority(*value);
    }
    if let Some(value) = properties.correlation_id() {
        kept = kept.with_correlation_id(value.clone());
    }
    if let Some(value) = properties.reply_to() {
        kept = kept.with_reply_to(value.clone());
    }
    if let Some(value) = properties.message_id() {
        kept = kept.with_message_id(value.clone());
    }
    if let Some(value) = properties.timestamp() {
        kept = kept.with_timestamp(*value);
    }
    if let Some(value) = properties.kind() {
        kept = kept.with_type(value.clone());
    }
    if let Some(value) = properties.user_id() {
        kept = kept.with_user_id(value.clone());
    }
    if let Some(value) = properties.app_id() {
        kept = kept.with_app_id(value.clone());
    }
    if let Some(value) = properties.cluster_id() {
        kept = kept.with_cluster_id(value.clone());
    }
    kept
}

/// Sends one copy of the message per failure to its retry tier or the
/// dead queue, each confirmed, with the body and properties kept and the
/// failure in its headers.
async fn forward(
    shared: &Shared,
    channel: &Channel,
    message: &Message,
    failures: &[Failed],
) -> Result<(), RabbitError> {
    let queues = &shared.topology[0].0;
    let record = &message.record;
    // Retries come back through the default exchange under the queue's
    // name: keep what the routing key and a missing id told.
    // Kept on disk, never expiring, and without the broker's own
    // dead-letter history (it would take a later trip through a tier back
    // to the queue for a cycle, and drop the message).
    let mut properties = wire::with_headers(&message.delivery.properties, &[], wire::DEATH_HEADERS)
        .with_delivery_mode(2);
    properties = without_expiration(properties);
    if properties.kind().is_none() {
        properties = properties.with_type(short(&record.name));
    }
    if properties.message_id().is_none() {
        properties = properties.with_message_id(short(&record.envelope.id.to_string()));
    }
    for failed in failures {
        let (queue, counter) = match failed.next {
            Next::Retry(tier) => (&queues.retries[tier - 1], &shared.counts.retried),
            Next::Dead => (&queues.dead, &shared.counts.dead),
        };
        let mut set = vec![
            (ERROR, wire::error_header(&failed.error)),
            (
                ATTEMPTS,
                AMQPValue::LongInt(i32::try_from(failed.tries).unwrap_or(i32::MAX)),
            ),
        ];
        let mut remove = Vec::new();
        match &failed.handler {
            Some(handler) => set.push((
                HANDLER,
                AMQPValue::LongString(LongString::from(handler.as_str())),
            )),
            None => remove.push(HANDLER),
        }
        let properties = wire::with_headers(&properties, &set, &remove);
        link::publish_to_queue(channel, queue, &message.delivery.data, properties).await?;
        counter.fetch_add(1, Ordering::Relaxed);
        match failed.next {
            Next::Retry(tier) => tracing::info!(
                handler = failed.handler.as_deref().unwrap_or(""),
                tier,
                error = %failed.error,
                "handler failed; retrying after the tier's delay"
            ),
            Next::Dead => tracing::warn!(
                handler = failed.handler.as_deref().unwrap_or(""),
                tries = failed.tries,
                error = %failed.error,
                queue = %queue,
                "message dead-lettered"
            ),
        }
    }
    Ok(())
}
