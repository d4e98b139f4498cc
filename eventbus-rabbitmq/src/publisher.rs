//! [`RabbitSink`]: every record the bus hands it published to the
//! exchange, each confirmed by the broker before it counts as sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventbus_core::layer::BoxFuture;
use eventbus_core::{BoxError, EventRecord, SendOutcome, Sink};
use lapin::options::BasicPublishOptions;
use lapin::Confirmation;
use lapin::PublisherConfirm;
use tokio::sync::Mutex;

use crate::error::RabbitError;
use crate::link::Link;
use crate::names::{short, Queues};
use crate::wire::{self, SOURCE};
use crate::Settings;

/// Failed publishes of one batch, each on a connection reopened after the
/// last, before the batch goes back to the bus's retries.
const REFUSALS: u32 = 5;

/// Every outcome, the missing ones made by `missing`.
fn fill(outcomes: Vec<Option<SendOutcome>>, missing: impl Fn() -> SendOutcome) -> Vec<SendOutcome> {
    outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(&missing))
        .collect()
}

/// Records per `send`: a round trip to the broker per batch.
const BATCH: usize = 512;

/// How long the sink waits for one confirm before it takes the connection
/// for lost.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`Sink`] that publishes every record to RabbitMQ: routing key the
/// event name, the message as [the wire format](crate#the-wire-format)
/// pins it. Made by [`RabbitMq::sink`](crate::RabbitMq::sink); add it with
/// `BusBuilder::sink("rabbitmq", sink)`.
///
/// - Publisher confirms always: a record counts as sent once the broker
///   confirmed it (a quorum queue has it on a majority of its nodes); a
///   `nack` is retried by the bus's sink worker and ends in the dead
///   letters if it persists.
/// - When the connection drops, the sink reconnects with backoff and
///   publishes again what was not confirmed; meanwhile its buffer fills
///   and `emit` waits for room, so nothing accepted is lost. A message
///   may reach the broker twice after a reconnect (its confirm was lost):
///   consumers skip a `message_id` they handled.
/// - At connect it declares the exchange and, for every consumer group
///   that has handlers linked into the program, the group's queue, its
///   dead queue and its bindings, so events published before any worker
///   runs wait for it (the retry tiers are left to the consumers).
/// - A batch whose publishing fails six times (the connection reopened
///   each time: the broker refuses the messages themselves) goes back to
///   the bus's retries and dead letters instead of being tried for ever.
/// - [`only_groups`](RabbitSink::only_groups) narrows the groups it
///   declares.
/// - Records that came from RabbitMQ (source `"rabbitmq"`) are not
///   published back.
pub struct RabbitSink {
    settings: Arc<Settings>,
    groups: Vec<(Queues, Vec<String>)>,
    link: Mutex<Option<Link>>,
}

impl std::fmt::Debug for RabbitSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitSink")
            .field("url", &self.settings.shown_url())
            .field("exchange", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl RabbitSink {
    /// Declares the queues of `groups` only, rather than of every group
    /// with handlers linked into the program: for a program that links
    /// handlers of groups it runs itself, whose queues would fill with
    /// nobody to read them.
    #[must_use]
    pub fn only_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let wanted: Vec<S> = groups.into_iter().collect();
        self.groups
            .retain(|(queues, _)| wanted.iter().any(|group| group.as_ref() == queues.group));
        self
    }

    pub(crate) fn new(settings: Arc<Settings>, groups: Vec<(Queues, Vec<String>)>) -> Self {
        Self {
            settings,
            groups,
            link: Mutex::new(None),
        }
    }

    /// Publishes `pending` on `link` and waits for their confirms; marks
    /// each confirmed one in `outcomes`. `Err` when the link broke: the
    /// unmarked ones are to be sent again on a new link.
    async fn publish(
        &self,
        link: &Link,
        records: &[Arc<EventRecord>],
        outcomes: &mut [Option<SendOutcome>],
    ) -> Result<(), String> {
        let mut confirms: Vec<(usize, PublisherConfirm)> = Vec::new();
        for (at, record) in records.iter().enumerate() {
            if outcomes[at].is_some() {
                continue;
            }
            let confirm = link
                .channel
                .basic_publish(
                    short(&self.settings.prefix),
                    short(&record.name),
                    BasicPublishOptions::default(),
                    &record.payload,
                    wire::properties(record),
                )
                .await
                .map_err(|error| error.to_string())?;
            confirms.push((at, confirm));
        }
        for (at, confirm) in confirms {
            // A connection lost halfway may leave a confirm unanswered:
            // then the link counts as lost and the rest is sent again.
            let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
                .await
                .map_err(|_| format!("no confirm within {CONFIRM_TIMEOUT:?}"))?
                .map_err(|error| error.to_string())?;
            outcomes[at] = Some(match confirmation {
                Confirmation::Nack(_) => SendOutcome::Retry(Box::new(RabbitError::Nacked {
                    to: format!("exchange `{}`", self.settings.prefix),
                })),
                Confirmation::Ack(_) | Confirmation::NotRequested => SendOutcome::Sent,
            });
        }
        Ok(())
    }
}

impl Sink for RabbitSink {
    /// 512: the confirms of a batch are awaited together, one round trip
    /// per batch.
    fn max_batch(&self) -> usize {
        BATCH
    }

    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            let mut outcomes: Vec<Option<SendOutcome>> = records
                .iter()
                .map(|record| {
                    // Never back to where it came from.
                    (record.envelope.source.as_deref() == Some(SOURCE)).then_some(SendOutcome::Sent)
                })
                .collect();
            let mut link = self.link.lock().await;
            let mut refused = 0;
            let mut delay = self.settings.reconnect.0;
            while outcomes.iter().any(Option::is_none) {
                let open = match link.take() {
                    Some(open) if open.channel.status().connected() => open,
                    _ => {
                        match Link::open_with_backoff(&self.settings, &self.groups).await {
                            Ok(open) => open,
                            // A mismatched queue: waiting does not help.
                            Err(error) => {
                                let error = error.to_string();
                                return fill(outcomes, || {
                                    SendOutcome::Failed(error.clone().into())
                                });
                            }
                        }
                    }
                };
                match self.publish(&open, records, &mut outcomes).await {
                    Ok(()) => *link = Some(open),
                    Err(error) if refused == REFUSALS => {
                        tracing::warn!(%error, "RabbitMQ refuses to take these records");
                        let error = format!("RabbitMQ refused the publish: {error}");
                        return fill(outcomes, || SendOutcome::Retry(error.clone().into()));
                    }
                    Err(error) => {
                        refused += 1;
                        tracing::warn!(
                            %error,
                            retry_in = ?delay,
                            "lost RabbitMQ while publishing; reconnecting"
                        );
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(self.settings.reconnect.1);
                    }
                }
            }
            // Every slot is filled once the loop ends.
            outcomes.into_iter().flatten().collect()
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let link = self.link.lock().await;
            if let Some(link) = link.as_ref() {
                link.channel.wait_for_confirms().await?;
            }
            Ok(())
        })
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let link = self.link.lock().await.take();
            if let Some(link) = link {
                link.close(deadline.saturating_duration_since(Instant::now()))
                    .await;
            }
        })
    }
}
