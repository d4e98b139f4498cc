//! [`BusBuilder`]: chooses the handlers and settings of a [`Bus`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::bus::Bus;
use crate::context::States;
use crate::dead_letter::DeadLetters;
use crate::dispatcher::{Dispatcher, Routes, Settings};
use crate::error::BuildError;
use crate::event::Event;
use crate::event_fns::EventFns;
use crate::handler::HandlerInfo;
use crate::hooks::Hooks;
use crate::layer::{Layer, RetryLayer};
use crate::meta::EventMeta;
use crate::registry::{RegisteredHandler, Registry, Resolved};
use crate::report::HandlerFailure;
use crate::selection::{catch_alls, route_entries, Selections};
#[cfg(feature = "tokio")]
use crate::sink::{Sink, SinkRetry};

type HandlerFilter = Box<dyn Fn(&HandlerInfo) -> bool>;

/// Configures a [`Bus`]; start with [`Bus::builder`].
///
/// ```
/// use eventbus::prelude::*;
///
/// #[derive(Event, serde::Serialize, serde::Deserialize)]
/// struct Audited;
///
/// #[subscribe]
/// fn record(_: &Audited) {}
///
/// let bus = Bus::builder()
///     .require::<Audited>()
///     .catch_panics(true)
///     .build()
///     .expect("every required event has a handler");
/// assert_eq!(bus.publish(Audited).handled(), 1);
/// ```
#[must_use = "a BusBuilder does nothing until `.build()` is called"]
pub struct BusBuilder {
    catch_panics: bool,
    required: Vec<&'static EventMeta>,
    filter: Option<HandlerFilter>,
    states: States,
    max_cascade_depth: u32,
    max_cascade_events: usize,
    layers: Vec<Arc<dyn Layer>>,
    has_retry_layer: bool,
    has_timeout_layer: bool,
    groups: Option<Vec<String>>,
    /// Groups whose handlers a broker runs: not on a local publish.
    remote_groups: Vec<String>,
    hooks: Hooks,
    #[cfg(feature = "tokio")]
    queue_capacity: usize,
    #[cfg(feature = "tokio")]
    workers: usize,
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Handle>,
    /// The sinks, by name, in the order given.
    #[cfg(feature = "tokio")]
    sinks: Vec<(String, Arc<dyn Sink>)>,
    #[cfg(feature = "tokio")]
    sink_buffer: usize,
    #[cfg(feature = "tokio")]
    sink_retry: SinkRetry,
    #[cfg(feature = "tokio")]
    shutdown_timeout: std::time::Duration,
    #[cfg(feature = "tokio")]
    journal: Option<Arc<dyn crate::journal::Journal>>,
}

/// How deep a chain of follow-up events may go by default.
pub const DEFAULT_MAX_CASCADE_DEPTH: u32 = 64;

/// A started journal, and the runtime its relays are to run on.
#[cfg(feature = "tokio")]
type JournalStart = (
    Option<crate::journaling::Journaling>,
    Option<tokio::runtime::Handle>,
);

/// How long `shutdown` lets the sinks finish by default.
#[cfg(feature = "tokio")]
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How many follow-up events one root event may cause by default.
pub const DEFAULT_MAX_CASCADE_EVENTS: usize = 10_000;

// The constructors of a `Bus` live with its builder: the bus itself
// knows nothing of how it is put together.
impl Bus {
    /// Builds a bus with every handler registered in the program.
    ///
    /// # Panics
    ///
    /// Panics with the message [`BusBuilder::build`] would return when the
    /// registry is invalid (two event types with one name, a broken chain
    /// of upcasters).
    #[must_use]
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(bus) => bus,
            Err(error) => panic!("{error}"),
        }
    }

    /// Starts configuring a bus.
    pub fn builder() -> BusBuilder {
        BusBuilder::new()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl BusBuilder {
    pub(crate) fn new() -> Self {
        Self {
            catch_panics: true,
            required: Vec::new(),
            filter: None,
            states: States::default(),
            max_cascade_depth: DEFAULT_MAX_CASCADE_DEPTH,
            max_cascade_events: DEFAULT_MAX_CASCADE_EVENTS,
            layers: Vec::new(),
            has_retry_layer: false,
            has_timeout_layer: false,
            groups: None,
            remote_groups: Vec::new(),
            hooks: Hooks::default(),
            #[cfg(feature = "tokio")]
            queue_capacity: crate::events::DEFAULT_CAPACITY,
            #[cfg(feature = "tokio")]
            workers: 1,
            #[cfg(feature = "tokio")]
            runtime: None,
            #[cfg(feature = "tokio")]
            sinks: Vec::new(),
            #[cfg(feature = "tokio")]
            sink_buffer: crate::sinks::DEFAULT_SINK_BUFFER,
            #[cfg(feature = "tokio")]
            sink_retry: SinkRetry::default(),
            #[cfg(feature = "tokio")]
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            #[cfg(feature = "tokio")]
            journal: None,
        }
    }

    /// Gives handlers a value they take as `State<T>` (a database pool, a
    /// mailer); one value per type, the last one given wins.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Adds a layer around every handler call; the first layer added is
    /// the outermost.
    ///
    /// ```
    /// use eventbus::layer::{MetricsLayer, RetryLayer, RetryPolicy, TracingLayer};
    /// use eventbus::prelude::*;
    ///
    /// let bus = Bus::builder()
    ///     .layer(TracingLayer::new())
    ///     .layer(MetricsLayer::new())
    ///     .layer(RetryLayer::new(RetryPolicy::new(2)))
    ///     .build()
    ///     .unwrap();
    /// assert!(bus.metrics().is_some());
    /// ```
    pub fn layer<L: Layer>(mut self, layer: L) -> Self {
        // Asked through the trait, so a layer that wraps one of these
        // still counts as it.
        if let Some(metrics) = layer.metrics() {
            self.hooks.metrics = Some(metrics.clone());
        }
        self.has_retry_layer |= layer.enforces_retry();
        self.has_timeout_layer |= layer.enforces_timeout();
        self.layers.push(Arc::new(layer));
        self
    }

    /// Calls `hook` with every final failure (after retries), of every
    /// handler, whether a caller sees it in a report or not: the place to
    /// log or count failures once.
    pub fn on_error(mut self, hook: impl Fn(&HandlerFailure) + Send + Sync + 'static) -> Self {
        self.hooks.on_error = Some(Box::new(hook));
        self
    }

    /// Sends every event whose handler failed after its retries to `sink`,
    /// as JSON with the failure.
    pub fn dead_letters(mut self, sink: impl DeadLetters) -> Self {
        self.hooks.dead_letters = Some(Arc::new(sink));
        self
    }

    /// Selects the handler groups this bus runs: a handler with
    /// `#[subscribe(group = "..")]` runs only on buses whose groups name
    /// it; handlers without a group always run. Without this call, no
    /// grouped handler runs.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// let billing = Bus::builder().groups(["billing"]).build().unwrap();
    /// # drop(billing);
    /// ```
    pub fn groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Names handler groups that a broker delivers to: their handlers are
    /// part of this bus (a transport runs them with
    /// [`Bus::deliver_to_group`]), but a local `publish` or `emit` does not
    /// run them; the broker does, in whichever process consumes the
    /// group. A remote group needs no [`BusBuilder::groups`] too.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// let bus = Bus::builder().remote_groups(["billing"]).build().unwrap();
    /// # drop(bus);
    /// ```
    pub fn remote_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.remote_groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// How deep a chain of follow-up events may go before it is stopped
    /// and reported (default 64). A root event has depth 0.
    pub fn max_cascade_depth(mut self, depth: u32) -> Self {
        self.max_cascade_depth = depth;
        self
    }

    /// How many follow-up events one root event may cause in all before
    /// the rest are stopped and reported (default 10,000).
    pub fn max_cascade_events(mut self, events: usize) -> Self {
        self.max_cascade_events = events;
        self
    }

    /// How many events the background queue holds before `emit` waits and
    /// `try_emit` hands the event back (default 1024). [`build`](Self::build)
    /// refuses 0.
    #[cfg(feature = "tokio")]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// How many worker tasks deliver the background queue (default 1).
    ///
    /// With one worker, queued events are delivered strictly in the order
    /// they were emitted, each after the previous one has finished. With
    /// more, queued deliveries start in emit order and may finish out of
    /// order, so one slow handler does not hold back everything queued
    /// behind it. [`build`](Self::build) refuses 0.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// let bus = Bus::builder().workers(4).build().unwrap();
    /// # drop(bus);
    /// assert!(Bus::builder().workers(0).build().is_err());
    /// ```
    #[cfg(feature = "tokio")]
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The tokio runtime that runs spawned handlers and the queue's
    /// worker; by default, the runtime of the thread that publishes.
    #[cfg(feature = "tokio")]
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Sends the record of every accepted non-local event that `sink`
    /// wants (see [`Sink`]) out of the process, under `name`: a record
    /// that came in through a transport of the same name (its envelope's
    /// `source`) is not handed back to it. Each sink has a buffer of its
    /// own ([`BusBuilder::sink_buffer`]) and a worker on the bus's runtime,
    /// so the bus must be built inside a tokio runtime or be given one.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use eventbus::layer::BoxFuture;
    /// use eventbus::prelude::*;
    /// use eventbus::{EventRecord, SendOutcome, Sink};
    ///
    /// struct Stdout;
    ///
    /// impl Sink for Stdout {
    ///     fn send<'a>(&'a self, records: &'a [Arc<EventRecord>]) -> BoxFuture<'a, Vec<SendOutcome>> {
    ///         Box::pin(async move {
    ///             records.iter().map(|record| {
    ///                 println!("{}", record.to_json());
    ///                 SendOutcome::Sent
    ///             }).collect()
    ///         })
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let bus = Bus::builder().sink("stdout", Stdout).build().unwrap();
    /// # drop(bus);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn sink(mut self, name: impl Into<String>, sink: impl Sink) -> Self {
        self.sinks.push((name.into(), Arc::new(sink)));
        self
    }

    /// How many records wait for each sink at most (default 1,024). When
    /// a sink's buffer is full, a sync `publish` reports a
    /// [`FailureKind::SinkFull`](crate::FailureKind::SinkFull) failure
    /// (the record goes to the dead letters) and `emit` waits for room.
    #[cfg(feature = "tokio")]
    pub fn sink_buffer(mut self, records: usize) -> Self {
        self.sink_buffer = records;
        self
    }

    /// How the sinks' workers retry what their sink could not send
    /// (default: 5 tries, 100 ms doubling up to 10 s).
    #[cfg(feature = "tokio")]
    pub fn sink_retry(mut self, retry: SinkRetry) -> Self {
        self.sink_retry = retry;
        self
    }

    /// Appends every non-local event the bus accepts, with origin `Local`
    /// or `Remote`, to `journal` (the event log), in its stream (the
    /// event's name). Then [`emit`](crate::Bus::emit) returns once the
    /// event is committed, and the bus's handler relay hands it to the
    /// handlers from the log; `publish` and `deliver` run the handlers at
    /// once and append the event as handled, without waiting for the
    /// commit (a failed one goes to `on_error` and the dead letters as
    /// abandoned); `publish_async` and `deliver_async` await it.
    #[cfg(feature = "tokio")]
    pub fn journal(mut self, journal: impl crate::journal::Journal) -> Self {
        self.journal = Some(Arc::new(journal));
        self
    }

    /// How long [`Bus::shutdown`](crate::Bus::shutdown) lets the sinks
    /// send what they still hold, once the queue and the handlers are done
    /// (default 30 s). What is left then goes to the dead letters and
    /// `on_error` as [`FailureKind::Abandoned`](crate::FailureKind::Abandoned),
    /// with its record.
    #[cfg(feature = "tokio")]
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether a panicking handler is caught and reported as a failure
    /// (the default, `true`) or unwinds through `publish`.
    pub fn catch_panics(mut self, catch: bool) -> Self {
        self.catch_panics = catch;
        self
    }

    /// Makes [`build`](Self::build) fail when no handler of `E` is part of
    /// the bus: the guard against a handler crate the linker left out.
    pub fn require<E: Event>(mut self) -> Self {
        self.required.push(E::__meta());
        self
    }

    /// Keeps only the link-time handlers for which `keep` returns true
    /// (for tests, or one binary that runs several roles).
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// let bus = Bus::builder()
    ///     .filter_handlers(|info| !info.handler_name().contains("::slow_"))
    ///     .build()
    ///     .unwrap();
    /// assert!(bus.handlers().iter().all(|h| !h.handler_name().contains("::slow_")));
    /// ```
    pub fn filter_handlers(mut self, keep: impl Fn(&HandlerInfo) -> bool + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// Builds the bus: resolves the registry into the handlers of each
    /// event type, and checks it.
    ///
    /// # Errors
    ///
    /// [`BuildError::DuplicateEventName`] when two event types share a
    /// name, [`BuildError::MissingUpcaster`] (and the other upcaster
    /// errors) when an event's upcasters do not form one chain up to its
    /// version, [`BuildError::MissingHandlers`] when a type given to
    /// [`require`](Self::require) has no handler on this bus.
    pub fn build(mut self) -> Result<Bus, BuildError> {
        #[cfg(feature = "tokio")]
        self.check_queue()?;
        let registry = Registry::get();
        if let Some(clash) = registry.clash {
            return Err(BuildError::DuplicateEventName {
                name: clash.name,
                first: clash.first,
                second: clash.second,
            });
        }
        crate::upcast::check_chains(crate::upcast::Upcasters::get())?;

        // `filter_handlers` sees each handler once.
        let all: Vec<&'static RegisteredHandler> = registry
            .handlers
            .iter()
            .filter(|registered| self.selects(&registered.info))
            .collect();
        // What a local publish runs: all but the remote groups' handlers.
        let chosen: Vec<&'static RegisteredHandler> = all
            .iter()
            .copied()
            .filter(|registered| !self.is_remote(&registered.info))
            .collect();
        let mut selected = Vec::with_capacity(all.len());

        let mut wants_retry = false;
        let mut wants_timeout = false;
        // A catch-all or `&DeadEvent` handler that reads the context also
        // runs for events whose own handlers need none.
        for registered in &all {
            wants_retry |= registered.info.retry() > 0;
            wants_timeout |= registered.info.timeout().is_some();
            self.check_state(registered)?;
            selected.push(registered.info.clone());
        }
        let catch_alls_read_context = chosen.iter().any(|registered| {
            matches!(registered.target, Resolved::Any | Resolved::Dead) && registered.context
        });
        let (fallback, dead) = catch_alls(&chosen);

        for meta in &self.required {
            let has_own = chosen.iter().any(|registered| {
                matches!(registered.target, Resolved::Event(own) if own.slot() == meta.slot())
            });
            if !has_own {
                return Err(BuildError::MissingHandlers {
                    event_name: meta.name(),
                    type_path: meta.type_path(),
                });
            }
        }

        let policy_layers = self.policy_layers(wants_retry, wants_timeout);
        let layers: Box<[Arc<dyn Layer>]> = std::mem::take(&mut self.layers).into_boxed_slice();
        let layers_read_envelope = layers.iter().any(|layer| layer.reads_envelope());
        let routes = self.routes(registry, &chosen);
        let hooks = Arc::new(std::mem::take(&mut self.hooks));
        #[cfg(feature = "tokio")]
        let sink_count = self.sinks.len();
        #[cfg(feature = "tokio")]
        let sinks = self.start_sinks(registry, &hooks)?;
        #[cfg(feature = "tokio")]
        let (journaling, relay_runtime) = self.start_journal(&hooks, sink_count)?;
        #[cfg(not(feature = "tokio"))]
        let (sinks, journaling): (Option<()>, Option<()>) = (None, None);
        let dispatcher = Dispatcher::new(
            routes,
            fallback,
            dead,
            Selections::new(all, |meta, entries| {
                (EventFns::of_meta(meta).build_route)(entries)
            }),
            selected.into_boxed_slice(),
            Settings {
                catch_panics: self.catch_panics,
                max_cascade_depth: self.max_cascade_depth,
                max_cascade_events: self.max_cascade_events,
                always_context: layers_read_envelope || catch_alls_read_context,
                plain: layers.is_empty()
                    && !catch_alls_read_context
                    && sinks.is_none()
                    && journaling.is_none(),
            },
            self.states,
            layers,
            policy_layers,
            hooks,
            #[cfg(feature = "tokio")]
            crate::dispatcher::QueueSettings {
                runtime: self.runtime,
                capacity: self.queue_capacity,
                workers: self.workers,
                sinks,
                shutdown_timeout: self.shutdown_timeout,
                journaling,
            },
        );
        let dispatcher = Arc::new(dispatcher);
        #[cfg(feature = "tokio")]
        if let Some(runtime) = relay_runtime {
            crate::relay::start(&dispatcher, &runtime);
        }
        Ok(Bus::from_dispatcher(&dispatcher))
    }
}

impl BusBuilder {
    /// The routes of this bus: the shared ones when it keeps every
    /// link-time handler (built by the first such bus in the process),
    /// else its own.
    fn routes(&self, registry: &Registry, chosen: &[&RegisteredHandler]) -> Routes {
        // Whether the shared routes are built. A flag under a lock rather
        // than a `Once`: should building them panic, the next bus tries
        // again instead of finding the `Once` poisoned.
        static SHARED: Mutex<bool> = Mutex::new(false);
        if self.filter.is_none() && self.groups.is_none() && self.remote_groups.is_empty() {
            let mut built = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
            if !*built {
                #[cfg(test)]
                tests::fail_here();
                let events = registry.events.iter().chain(&self.required);
                for (meta, entries) in route_entries(events, chosen).into_iter().flatten() {
                    (EventFns::of_meta(meta).share_route)(entries);
                }
                *built = true;
            }
            return Routes::Shared;
        }
        Routes::Own(
            route_entries(registry.events.iter().chain(&self.required), chosen)
                .into_iter()
                .map(|route| {
                    route.map(|(meta, entries)| (EventFns::of_meta(meta).build_route)(entries))
                })
                .collect(),
        )
    }

    /// Whether a link-time handler is part of this bus: kept by
    /// `filter_handlers`, and in a selected or remote group if it has one.
    fn selects(&self, info: &HandlerInfo) -> bool {
        if self.filter.as_ref().is_some_and(|keep| !keep(info)) {
            return false;
        }
        info.group().is_none_or(|group| {
            self.groups
                .as_ref()
                .is_some_and(|groups| groups.iter().any(|wanted| wanted == group))
        }) || self.is_remote(info)
    }

    /// Whether a handler is in a group a broker runs.
    fn is_remote(&self, info: &HandlerInfo) -> bool {
        info.group()
            .is_some_and(|group| self.remote_groups.iter().any(|remote| remote == group))
    }

    /// Starts the sinks' workers; `None` without sinks.
    #[cfg(feature = "tokio")]
    fn start_sinks(
        &mut self,
        registry: &Registry,
        hooks: &Arc<Hooks>,
    ) -> Result<Option<crate::sinks::Sinks>, BuildError> {
        if self.sinks.is_empty() {
            return Ok(None);
        }
        for (at, (name, _)) in self.sinks.iter().enumerate() {
            if name.is_empty() {
                return Err(BuildError::InvalidSetting {
                    setting: "sink",
                    message: "a sink needs a name (a record's `source` names the transport it \
                              came through, and no sink is handed back what it brought in)",
                });
            }
            if self.sinks[..at].iter().any(|(earlier, _)| earlier == name) {
                return Err(BuildError::InvalidSetting {
                    setting: "sink",
                    message: "two sinks have the same name; give each its own",
                });
            }
        }
        if self.sink_buffer == 0 {
            return Err(BuildError::InvalidSetting {
                setting: "sink_buffer",
                message: "a buffer of 0 records could never take one; give at least 1 (the \
                          default is 1024)",
            });
        }
        let runtime = self.sink_runtime("sink")?;
        let events: Vec<&'static EventMeta> = registry
            .events
            .iter()
            .chain(&self.required)
            .copied()
            .collect();
        let settings = crate::sinks::SinkSettings {
            buffer: self.sink_buffer,
            retry: self.sink_retry,
            hooks: Arc::clone(hooks),
            journaled: self.journal.is_some(),
        };
        Ok(Some(crate::sinks::Sinks::start(
            std::mem::take(&mut self.sinks),
            &events,
            &settings,
            &runtime,
        )))
    }

    /// Starts the group commit of the journal; with the runtime the
    /// relays are to run on.
    #[cfg(feature = "tokio")]
    fn start_journal(
        &mut self,
        hooks: &Arc<Hooks>,
        sinks: usize,
    ) -> Result<JournalStart, BuildError> {
        let Some(journal) = self.journal.take() else {
            return Ok((None, None));
        };
        let runtime = self.sink_runtime("journal")?;
        let journaling =
            crate::journaling::Journaling::start(journal, Arc::clone(hooks), sinks, &runtime);
        Ok((Some(journaling), Some(runtime)))
    }

    /// The runtime the tasks of sinks and the journal run on.
    #[cfg(feature = "tokio")]
    fn sink_runtime(&self, setting: &'static str) -> Result<tokio::runtime::Handle, BuildError> {
        self.runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
            .ok_or(BuildError::InvalidSetting {
                setting,
                message: "it works from tasks of its own: build the bus inside a tokio runtime, \
                          or give it one with `BusBuilder::runtime`",
            })
    }

    /// Fails on a queue that could never take an event or be delivered.
    #[cfg(feature = "tokio")]
    fn check_queue(&self) -> Result<(), BuildError> {
        if self.queue_capacity == 0 {
            return Err(BuildError::InvalidSetting {
                setting: "queue_capacity",
                message: "a queue of capacity 0 could never take an event; give at least 1 \
                          (the default is 1024)",
            });
        }
        if self.workers == 0 {
            return Err(BuildError::InvalidSetting {
                setting: "workers",
                message: "with 0 workers nothing queued would ever be delivered; give at least \
                          1 (the default)",
            });
        }
        Ok(())
    }

    /// Fails when a selected handler takes a state that was not given.
    fn check_state(&self, registered: &RegisteredHandler) -> Result<(), BuildError> {
        match registered
            .state_needs
            .iter()
            .find(|need| !self.states.contains(need.type_id))
        {
            Some(need) => Err(BuildError::MissingState {
                handler: registered.info.handler_name(),
                type_name: need.type_name,
                given: self.states.type_names(),
            }),
            None => Ok(()),
        }
    }

    /// The layers for handlers with their own `retry`/`timeout_ms`,
    /// outermost first: those added, and, when no layer of that kind was
    /// added by hand, one the bus adds, innermost. Other handlers do not
    /// go through these.
    fn policy_layers(&self, wants_retry: bool, wants_timeout: bool) -> Box<[Arc<dyn Layer>]> {
        let mut layers = self.layers.clone();
        if wants_retry && !self.has_retry_layer {
            layers.push(Arc::new(RetryLayer::default()));
        }
        #[cfg(feature = "tokio")]
        if wants_timeout && !self.has_timeout_layer {
            layers.push(Arc::new(crate::layer::TimeoutLayer::per_handler()));
        }
        #[cfg(not(feature = "tokio"))]
        let _ = (wants_timeout, self.has_timeout_layer);
        layers.into_boxed_slice()
    }
}

impl fmt::Debug for BusBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusBuilder")
            .field("catch_panics", &self.catch_panics)
            .field(
                "required",
                &self
                    .required
                    .iter()
                    .map(|meta| meta.name())
                    .collect::<Vec<_>>(),
            )
            .field("filter_handlers", &self.filter.is_some())
            .field("states", &self.states.type_names())
            .field("max_cascade_depth", &self.max_cascade_depth)
            .field("max_cascade_events", &self.max_cascade_events)
            .field("layers", &self.layers.len())
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::Bus;

    static FAIL_NEXT: AtomicBool = AtomicBool::new(false);

    /// Panics once, where the shared routes are built, when a test asks.
    pub(super) fn fail_here() {
        assert!(
            !FAIL_NEXT.swap(false, Ordering::SeqCst),
            "building the shared routes failed"
        );
    }

    #[test]
    fn a_panic_while_building_the_shared_routes_lets_the_next_bus_build_them() {
        FAIL_NEXT.store(true, Ordering::SeqCst);
        let first = std::panic::catch_unwind(Bus::new);
        let message = first.err().map(crate::report::take_panic);
        assert_eq!(
            message.as_deref(),
            Some("building the shared routes failed")
        );
        let bus = Bus::builder().build().expect("the second bus builds");
        assert!(bus.handlers().is_empty());
        assert_eq!(Bus::new().handlers().len(), 0);
    }
}
