//! [`EventStream`]: the sink that feeds `GET /events/stream`, the bus's
//! events as server-sent events, resumable from the event log.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use eventbus_core::layer::BoxFuture;
use eventbus_core::{EventRecord, Journal, SendOutcome, Sink};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

/// How many events wait for a slow reader before it misses some (and is
/// told so, or, with a journal, reads them back from the log).
const BUFFER: usize = 4096;

/// How many events a resuming reader reads from the log at a time.
const PAGE: usize = 500;

/// The bus's events as server-sent events: add it to the bus as a sink
/// and give it to [`Ingress::stream`](crate::Ingress::stream), which then
/// serves `GET /events/stream`:
///
/// - each non-local event the bus accepts as `event: <name>`, `id: <the
///   log position, or the event id without a journal>`, `data: <the
///   webhook body>`; `?names=a,b` keeps only those names;
/// - with a [journal](EventStream::journal) (the bus's own), a client
///   that reconnects with `Last-Event-ID: <position>` is sent what it
///   missed from the log first, with nothing skipped and nothing twice;
///   an id past the end of the log (a log reset since) goes live;
/// - `?unnamed=true` sends every event as a plain `message` (the name is
///   in the data), for a reader that cannot list every name;
/// - keep-alive comments every 15 s; every stream ends when the bus shuts
///   down, so a server's graceful shutdown does not wait for its clients
///   (bound it anyway: a client that stops reading holds its connection).
///
/// With a journal shared by several processes, one process's sink relay
/// feeds the log to its sinks at a time: a stream serves live events in
/// the process that holds the relay (the others' clients get them on
/// reconnecting, from the log).
///
/// ```no_run
/// use eventbus_core::Bus;
/// use eventbus_http::{EventStream, Ingress};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let events = EventStream::new();
/// let bus = Bus::builder().sink("sse", events.clone()).build()?;
/// let app = Ingress::new(bus).stream(events).router();
/// # drop(app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EventStream {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<EventRecord>>,
    closed: watch::Sender<bool>,
    journal: Option<Arc<dyn Journal>>,
    /// Its name as the bus's sink: what came in through it is not sent
    /// back, live or read from the log.
    name: std::sync::OnceLock<Arc<str>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("readers", &self.inner.sender.receiver_count())
            .field("journal", &self.inner.journal.is_some())
            .finish()
    }
}

impl Default for EventStream {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStream {
    /// A stream without a journal: ids are event ids, and a client that
    /// reconnects gets what comes next.
    #[must_use]
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A stream over the bus's `journal` (the same one given to
    /// [`BusBuilder::journal`](eventbus_core::BusBuilder::journal), such as
    /// the store): ids are log positions, and `Last-Event-ID` resumes.
    #[must_use]
    pub fn journal(journal: impl Journal) -> Self {
        Self::build(Some(Arc::new(journal)))
    }

    fn build(journal: Option<Arc<dyn Journal>>) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let (closed, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                sender,
                closed,
                journal,
                name: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The response to `GET /events/stream`: from after `last_id` (a
    /// `Last-Event-ID`), only `names` when given.
    pub(crate) fn respond(
        &self,
        last_id: Option<&str>,
        names: Option<HashSet<String>>,
        unnamed: bool,
    ) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
        let journal = self.inner.journal.clone();
        let after = last_id.and_then(|id| id.trim().parse::<u64>().ok());
        let reader = Reader {
            live: self.inner.sender.subscribe(),
            closed: self.inner.closed.subscribe(),
            catching_up: journal.is_some() && after.is_some(),
            last: after.unwrap_or(0),
            journal,
            backlog: VecDeque::new(),
            names,
            unnamed,
            resumed: after.is_some(),
            own_name: self.inner.name.get().cloned(),
        };
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            let event = reader.next().await?;
            Some((Ok(event), reader))
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

/// One client's place in the stream.
struct Reader {
    live: broadcast::Receiver<Arc<EventRecord>>,
    closed: watch::Receiver<bool>,
    journal: Option<Arc<dyn Journal>>,
    /// Reading the log after `last` before going live.
    catching_up: bool,
    /// The last position sent (with a journal).
    last: u64,
    backlog: VecDeque<Arc<EventRecord>>,
    names: Option<HashSet<String>>,
    /// Events go out as plain `message`s.
    unnamed: bool,
    /// The first page of a resume is still to be read.
    resumed: bool,
    own_name: Option<Arc<str>>,
}

impl Reader {
    /// The next event to send; `None` once the bus shuts down.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if let Some(record) = self.backlog.pop_front() {
                if let Some(event) = self.event(&record) {
                    return Some(event);
                }
                continue;
            }
            if self.catching_up {
                self.catch_up().await?;
                continue;
            }
            let received = tokio::select! {
                received = self.live.recv() => received,
                _ = self.closed.changed() => return None,
            };
            match received {
                Ok(record) => {
                    if let Some(event) = self.event(&record) {
                        return Some(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    if self.journal.is_some() {
                        self.catching_up = true;
                    } else {
                        return Some(
                            SseEvent::default()
                                .event("eventbus.lagged")
                                .data(format!("{{\"missed\":{missed}}}")),
                        );
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of the log; back to live at its end.
    async fn catch_up(&mut self) -> Option<()> {
        let journal = self.journal.as_ref()?;
        let page = match journal.read_after(self.last, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(
                    target: "eventbus",
                    "an event stream could not read the log after position {}: {error}",
                    self.last
                );
                return None;
            }
        };
        if std::mem::take(&mut self.resumed) && page.is_empty() && self.last > 0 {
            // Nothing after the id: at the end of the log, or past it (a
            // log reset since). Past it, every event would look sent
            // already: go live from here.
            let before = journal.read_after(self.last - 1, 1).await.ok()?;
            if before.is_empty() {
                self.last = 0;
            }
        }
        if page.len() < PAGE {
            self.catching_up = false;
        }
        for logged in page {
            let mut record = logged.record;
            record.envelope.sequence = logged.position;
            if self.own_name.is_some()
                && record.envelope.source.as_deref() == self.own_name.as_deref()
            {
                // Came in through this sink: a live reader never sees it.
                self.last = logged.position;
                continue;
            }
            self.backlog.push_back(Arc::new(record));
        }
        Some(())
    }

    /// `record` as an event for this client: `None` when sent already
    /// (read from the log, then live) or not among its names.
    fn event(&mut self, record: &EventRecord) -> Option<SseEvent> {
        let id = if self.journal.is_some() {
            let position = record.envelope.sequence;
            if position <= self.last {
                return None;
            }
            self.last = position;
            position.to_string()
        } else {
            record.envelope.id.to_string()
        };
        if let Some(names) = &self.names {
            if !names.contains(&*record.name) {
                return None;
            }
        }
        let event = SseEvent::default().id(id).data(record.to_json());
        Some(if self.unnamed {
            event
        } else {
            event.event(&*record.name)
        })
    }
}

impl Sink for EventStream {
    fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
        Box::pin(async move {
            for record in records {
                // No reader is no failure: a stream sends what comes next.
                let _ = self.inner.sender.send(Arc::clone(record));
            }
            records.iter().map(|_| SendOutcome::Sent).collect()
        })
    }

    fn start(&self, handle: eventbus_core::SinkHandle) {
        if let Some(name) = handle.name() {
            let _ = self.inner.name.set(name);
        }
        if self.inner.journal.is_some() && !handle.journaled() {
            tracing::error!(
                target: "eventbus",
                "an EventStream over a journal was given to a bus without one: its ids are not \
                 log positions, and Last-Event-ID cannot resume; give the bus the same journal"
            );
        }
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, ()> {
        let _ = deadline;
        self.inner.closed.send_replace(true);
        Box::pin(async {})
    }
}
