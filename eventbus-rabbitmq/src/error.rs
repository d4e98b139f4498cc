//! [`RabbitError`]: what went wrong talking to the broker, and what to do.

/// An error from the RabbitMQ transport. Each message says what was wrong
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RabbitError {
    /// A setting cannot work; the message says which and what to write.
    #[error("{0}")]
    Config(String),
    /// The broker could not be reached, or refused the connection.
    #[error(
        "cannot connect to RabbitMQ at {url}: {source}; is the broker running \
         (`service rabbitmq-server start`) and is the URL right \
         (amqp://user:password@host:5672/%2f)?"
    )]
    Connect {
        /// The broker's address, without the password.
        url: String,
        /// What the client reported.
        #[source]
        source: lapin::Error,
    },
    /// A queue or exchange exists with other arguments than the ones this
    /// program declares.
    #[error(
        "{what} `{name}` exists with other arguments: {difference}; delete it \
         ({}, after moving what it holds) or use another prefix (`RabbitMq::prefix`)",
        removal(what, name)
    )]
    Mismatch {
        /// `queue` or `exchange`.
        what: &'static str,
        /// The queue's or exchange's name.
        name: String,
        /// The difference, as the broker states it.
        difference: String,
    },
    /// No handler linked into the program is in the group asked to
    /// consume.
    #[error(
        "no handler is in group `{group}`, so a consumer of it would run \
         nothing; groups with handlers: {known}; add `#[subscribe(group = \
         \"{group}\")]` to a handler, link the crate that has it (`use \
         my_handlers as _;`), or consume another group"
    )]
    UnknownGroup {
        /// The group asked for.
        group: String,
        /// The groups handlers linked into the program are in,
        /// comma-separated.
        known: String,
    },
    /// The group's handlers are linked, but the bus leaves them out.
    #[error(
        "the handlers of group `{group}` are not part of this bus: build it with \
         `Bus::builder().remote_groups([\"{group}\"])`, so that the broker's \
         messages run them and a local publish leaves them to the broker"
    )]
    GroupNotOnBus {
        /// The group asked for.
        group: String,
    },
    /// The broker refused or failed an operation.
    #[error("RabbitMQ refused to {action}: {source}")]
    Broker {
        /// What was being done.
        action: String,
        /// What the client reported.
        #[source]
        source: lapin::Error,
    },
    /// The broker did not confirm a publish (a `nack`): the message may not
    /// be stored.
    #[error("RabbitMQ did not take the message sent to {to} (nack); try again later")]
    Nacked {
        /// The exchange or queue it was sent to.
        to: String,
    },
}

/// The command that deletes a queue or an exchange.
fn removal(what: &str, name: &str) -> String {
    if what == "queue" {
        format!("`rabbitmqctl delete_queue {name}`")
    } else {
        format!("`rabbitmqadmin delete exchange name={name}`")
    }
}

impl RabbitError {
    pub(crate) fn broker(action: impl Into<String>, source: lapin::Error) -> Self {
        Self::Broker {
            action: action.into(),
            source,
        }
    }
}
