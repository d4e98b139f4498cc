//! A connection and channel to the broker, opened with backoff, and the
//! topology declared on it.

use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

use crate::error::RabbitError;
use crate::names::{short, Queues};
use crate::Settings;

/// One connection with one channel in confirm mode.
pub(crate) struct Link {
    pub(crate) connection: Connection,
    pub(crate) channel: Channel,
}

impl Link {
    /// Connects, opens a channel, turns on publisher confirms and declares
    /// the exchange.
    pub(crate) async fn open(settings: &Settings) -> Result<Self, RabbitError> {
        let connection = Connection::connect(&settings.url, ConnectionProperties::default())
            .await
            .map_err(|source| RabbitError::Connect {
                url: settings.shown_url(),
                source,
            })?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|source| RabbitError::broker("open a channel", source))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|source| RabbitError::broker("turn on publisher confirms", source))?;
        let link = Self {
            connection,
            channel,
        };
        link.declare_exchange(settings).await?;
        Ok(link)
    }

    /// Opens a link, waiting between tries (doubling from the first delay
    /// up to the longest) until one opens or the error cannot pass by
    /// waiting (a mismatched queue). Callers bound it from outside
    /// (a consumer's stop, the bus's shutdown deadline).
    pub(crate) async fn open_with_backoff(
        settings: &Settings,
        groups: &[(Queues, Vec<String>)],
    ) -> Result<Self, RabbitError> {
        let mut delay = settings.reconnect.0;
        loop {
            let opened = async {
                let link = Self::open(settings).await?;
                for (queues, events) in groups {
                    link.declare_group(settings, queues, events).await?;
                }
                Ok(link)
            }
            .await;
            match opened {
                Ok(link) => return Ok(link),
                Err(error @ RabbitError::Mismatch { .. }) => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?delay, "cannot reach RabbitMQ");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(settings.reconnect.1);
                }
            }
        }
    }

    async fn declare_exchange(&self, settings: &Settings) -> Result<(), RabbitError> {
        self.channel
            .exchange_declare(
                short(&settings.prefix),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|source| mismatch("exchange", &settings.prefix, source))
    }

    /// Declares a group's queues (the retry tiers only when `settings`
    /// says so) and binds its main queue with `events` (`#` for a handler
    /// of every event), idempotently.
    pub(crate) async fn declare_group(
        &self,
        settings: &Settings,
        queues: &Queues,
        events: &[String],
    ) -> Result<(), RabbitError> {
        self.declare_queue(&queues.main, queues.main_arguments())
            .await?;
        self.declare_queue(&queues.dead, FieldTable::default())
            .await?;
        // The tiers are the consumers' concern: a publisher with other
        // delays must not clash with them.
        if settings.declares_tiers {
            for (queue, delay) in queues.retries.iter().zip(&settings.retry_tiers) {
                self.declare_queue(queue, queues.retry_arguments(*delay))
                    .await?;
            }
        }
        for event in events {
            self.channel
                .queue_bind(
                    short(&queues.main),
                    short(&settings.prefix),
                    short(event),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|source| {
                    RabbitError::broker(format!("bind `{}` to `{event}`", queues.main), source)
                })?;
        }
        Ok(())
    }

    async fn declare_queue(&self, name: &str, arguments: FieldTable) -> Result<(), RabbitError> {
        self.channel
            .queue_declare(
                short(name),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .map(drop)
            .map_err(|source| mismatch("queue", name, source))
    }

    /// Closes the channel and the connection, for at most `within`.
    pub(crate) async fn close(&self, within: Duration) {
        let closing = async {
            let _ = self.channel.close(200, short("bye")).await;
            let _ = self.connection.close(200, short("bye")).await;
        };
        let _ = tokio::time::timeout(within, closing).await;
    }
}

/// Publishes `body` to `queue` through the default exchange and waits for
/// the broker's confirm. Mandatory: a queue that does not exist is an
/// error, never a message the broker confirms and drops.
pub(crate) async fn publish_to_queue(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), RabbitError> {
    let publish = |source| RabbitError::broker(format!("publish to `{queue}`"), source);
    let confirmation = channel
        .basic_publish(
            short(""),
            short(queue),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await
        .map_err(publish)?
        .await
        .map_err(publish)?;
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(RabbitError::Config(format!(
            "queue `{queue}` does not exist: start a consumer of its group (it declares the \
             group's queues), then try again"
        ))),
        Confirmation::Nack(_) => Err(RabbitError::Nacked {
            to: format!("queue `{queue}`"),
        }),
    }
}

/// A declare the broker refused: a mismatch when it says the arguments
/// differ (406, `PRECONDITION_FAILED`), else the broker's error.
fn mismatch(what: &'static str, name: &str, source: lapin::Error) -> RabbitError {
    if let lapin::ErrorKind::ProtocolError(error) = source.kind() {
        if error.get_id() == 406 {
            return RabbitError::Mismatch {
                what,
                name: name.to_owned(),
                difference: error.get_message().to_string(),
            };
        }
    }
    RabbitError::broker(format!("declare {what} `{name}`"), source)
}
