//! The names of the broker's exchange and queues, and the arguments each
//! queue is declared with (pinned: other programs declare the same).

use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// `x-delivery-limit` of a group's queue: a message returned to the queue
/// more than this many times without an ack (a consumer that crashes on
/// it, handed out 21 times in all) goes to the dead queue.
pub const DELIVERY_LIMIT: i32 = 20;

/// The queues of one consumer group under a prefix: see
/// [`RabbitMq::queues`](crate::RabbitMq::queues).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queues {
    /// The group.
    pub group: String,
    /// `<prefix>.<group>`: the group's quorum queue, bound to the exchange
    /// with the name of every event its handlers take.
    pub main: String,
    /// `<prefix>.<group>.retry.1`, `.2`, ...: one per retry tier, each
    /// holding messages for its delay and then handing them back to
    /// `main`.
    pub retries: Vec<String>,
    /// `<prefix>.<group>.dead`: where messages end that failed at every
    /// tier, or could not be read.
    pub dead: String,
}

impl Queues {
    pub(crate) fn new(prefix: &str, group: &str, tiers: usize) -> Self {
        let main = format!("{prefix}.{group}");
        Self {
            group: group.to_owned(),
            retries: (1..=tiers)
                .map(|tier| format!("{main}.retry.{tier}"))
                .collect(),
            dead: format!("{main}.dead"),
            main,
        }
    }

    /// Every queue of the group: main, retry tiers, dead.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.main.as_str())
            .chain(self.retries.iter().map(String::as_str))
            .chain(std::iter::once(self.dead.as_str()))
    }

    /// The arguments of the main queue.
    pub(crate) fn main_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert("x-queue-type".into(), text("quorum"));
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(DELIVERY_LIMIT),
        );
        arguments.insert("x-dead-letter-exchange".into(), text(""));
        arguments.insert("x-dead-letter-routing-key".into(), text(&self.dead));
        arguments.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        arguments.insert("x-overflow".into(), text("reject-publish"));
        arguments
    }

    /// The arguments of a retry tier holding messages for `delay`.
    pub(crate) fn retry_arguments(&self, delay: Duration) -> FieldTable {
        let mut arguments = FieldTable::default();
        let millis = i32::try_from(delay.as_millis()).unwrap_or(i32::MAX);
        arguments.insert("x-message-ttl".into(), AMQPValue::LongInt(millis));
        arguments.insert("x-dead-letter-exchange".into(), text(""));
        arguments.insert("x-dead-letter-routing-key".into(), text(&self.main));
        arguments
    }
}

/// The binding key of a handler's event: its name, `#` for a handler of
/// every event (`AnyEvent`); none for a `DeadEvent` handler, which no
/// message reaches.
pub(crate) fn binding_key(event: &str) -> Option<&str> {
    match event {
        "AnyEvent" => Some("#"),
        "DeadEvent" => None,
        name => Some(name),
    }
}

pub(crate) fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

pub(crate) fn short(value: &str) -> ShortString {
    ShortString::from(value)
}
