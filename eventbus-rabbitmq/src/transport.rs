//! What a broker consumer decides for each message, apart from the broker:
//! run the group's handlers (or the one a retry is for), then ack, hand
//! back, retry at the next tier or dead-letter. `RabbitMQ` implements
//! [`Delivery`] and settles each [`Verdict`]; another broker (NATS
//! `JetStream`) implements the same and passes the same conformance tests.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use eventbus_core::{Bus, EventRecord, FailureKind, Uuid};

/// One message as a broker hands it to a consumer.
pub trait Delivery: Send + Sync {
    /// The event, read from the message.
    fn record(&self) -> &EventRecord;
    /// The one handler to run, when the message is a retry of it.
    fn handler(&self) -> Option<&str>;
    /// The tries made before this one (0 for a fresh message).
    fn tries(&self) -> u32;
}

/// What to do with a message once its handlers ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every handler ran ok, or the message was already handled: ack.
    Ack {
        /// The message id was handled ok before: nothing ran.
        duplicate: bool,
    },
    /// Not handled now: hand it back to the broker (nack with requeue),
    /// for later or another consumer (the journal refused it).
    Requeue(String),
    /// The bus takes nothing more (shut down, no runtime): hand it back,
    /// and stop fetching.
    Closed(String),
    /// Handlers failed, or the message cannot be read: each entry goes to
    /// the next retry tier or the dead queue; then the message is acked.
    Failed(Vec<Failed>),
}

/// One failure to settle: a handler that failed, or a message that cannot
/// be delivered at all (`handler` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The handler's full path; `None` when the message itself is at fault
    /// (unknown name, undecodable body).
    pub handler: Option<String>,
    /// What went wrong.
    pub error: String,
    /// The tries made, this one included.
    pub tries: u32,
    /// Where it goes.
    pub next: Next,
}

/// Where a failure goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// To retry tier `n` (1-based), whose delay passes before the handler
    /// runs again.
    Retry(usize),
    /// To the dead queue.
    Dead,
}

/// Runs deliveries of one group on a bus and judges them.
#[derive(Debug, Clone)]
pub struct Judge {
    bus: Bus,
    group: Arc<str>,
    tiers: usize,
    recent: Recent,
}

impl Judge {
    /// Judges deliveries for `group` on `bus`, with `tiers` retry tiers,
    /// remembering the last `remember` message ids handled ok.
    #[must_use]
    pub fn new(bus: Bus, group: &str, tiers: usize, remember: usize) -> Self {
        Self {
            bus,
            group: group.into(),
            tiers,
            recent: Recent::new(remember),
        }
    }

    /// The group.
    #[must_use]
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Runs `delivery`'s handlers and says what to do with it.
    pub async fn judge(&self, delivery: &impl Delivery) -> Verdict {
        let record = delivery.record();
        let handler = delivery.handler();
        let key = (record.envelope.id, handler.map(Arc::<str>::from));
        match self.recent.begin(&key) {
            Begin::Fresh => {}
            Begin::Done => return Verdict::Ack { duplicate: true },
            // A second copy while the first runs: it waits for the first
            // (handing it back at once would bring it straight back, again
            // and again, up to the queue's delivery limit).
            Begin::Running => loop {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                match self.recent.begin(&key) {
                    Begin::Running => {}
                    Begin::Done => return Verdict::Ack { duplicate: true },
                    Begin::Fresh => break,
                }
            },
        }
        let verdict = self.run(record, handler, delivery.tries()).await;
        self.recent
            .finish(key, matches!(verdict, Verdict::Ack { .. }));
        verdict
    }

    async fn run(&self, record: &EventRecord, handler: Option<&str>, tries: u32) -> Verdict {
        let tries = tries.saturating_add(1);
        let inbound = self.bus.inbound(record.clone());
        let inbound = match handler {
            Some(handler) => inbound.handler(handler),
            None => inbound.group(&self.group),
        };
        let report = match inbound.deliver_async().await {
            Ok(report) => report,
            Err(error) => {
                return Verdict::Failed(vec![Failed {
                    handler: handler.map(str::to_owned),
                    error: error.to_string(),
                    tries,
                    next: Next::Dead,
                }]);
            }
        };
        let mut failed: Vec<Failed> = Vec::new();
        let id = record.envelope.id;
        for failure in report.failures() {
            match (failure.kind(), failure.handler()) {
                (FailureKind::ShutDown | FailureKind::NoRuntime, _) => {
                    return Verdict::Closed(failure.message().to_owned());
                }
                // A failed handler of this event (a follow-up event's
                // failures belong to it: the bus reports them to
                // `on_error` and the dead letters).
                (_, Some(info)) if failure.event_id() == id => {
                    let name = info.handler_name();
                    if failed
                        .iter()
                        .any(|seen| seen.handler.as_deref() == Some(name))
                    {
                        continue;
                    }
                    let next = if usize::try_from(tries).is_ok_and(|tries| tries <= self.tiers) {
                        Next::Retry(tries as usize)
                    } else {
                        Next::Dead
                    };
                    failed.push(Failed {
                        handler: Some(name.to_owned()),
                        error: failure.message().to_owned(),
                        tries,
                        next,
                    });
                }
                // The journal refused this event: not accepted, so handed
                // back.
                (FailureKind::Abandoned, None)
                    if failure
                        .record()
                        .is_some_and(|refused| refused.envelope.id == id) =>
                {
                    return Verdict::Requeue(failure.message().to_owned());
                }
                _ => {}
            }
        }
        if failed.is_empty() {
            Verdict::Ack { duplicate: false }
        } else {
            Verdict::Failed(failed)
        }
    }
}

type Key = (Uuid, Option<Arc<str>>);

/// The last message ids handled ok, bounded: the oldest is forgotten first.
#[derive(Debug, Clone)]
struct Recent {
    inner: Arc<Mutex<RecentInner>>,
}

#[derive(Debug)]
struct RecentInner {
    capacity: usize,
    set: HashSet<Key>,
    order: VecDeque<Key>,
    /// Being handled now.
    running: HashSet<Key>,
}

/// What [`Recent::begin`] found.
enum Begin {
    Fresh,
    Done,
    Running,
}

impl Recent {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(RecentInner {
                capacity,
                set: HashSet::new(),
                order: VecDeque::new(),
                running: HashSet::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `key` as being handled, unless it was handled ok or is being
    /// handled.
    fn begin(&self, key: &Key) -> Begin {
        let mut inner = self.lock();
        if inner.set.contains(key) {
            Begin::Done
        } else if inner.running.insert(key.clone()) {
            Begin::Fresh
        } else {
            Begin::Running
        }
    }

    /// `key` is no longer being handled; remembered when it was handled ok.
    fn finish(&self, key: Key, ok: bool) {
        self.lock().running.remove(&key);
        if ok {
            self.insert(key);
        }
    }

    fn insert(&self, key: Key) {
        let mut inner = self.lock();
        if inner.capacity == 0 || !inner.set.insert(key.clone()) {
            return;
        }
        inner.order.push_back(key);
        while inner.order.len() > inner.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.set.remove(&oldest);
            }
        }
    }
}
