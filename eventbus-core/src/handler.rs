//! What the bus knows about a handler, and what a handler may return.

use std::fmt;
use std::time::Duration;

use crate::meta::EventMeta;

/// The error type a failing handler hands to the bus.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether a handler is a plain `fn` or an `async fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandlerKind {
    /// A plain `fn`, run on the publishing thread.
    Sync,
    /// An `async fn`.
    Async,
}

impl fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sync => "sync",
            Self::Async => "async",
        })
    }
}

/// How the bus runs a handler: `#[subscribe(mode = "...")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Mode {
    /// The default: a sync handler runs on the publishing thread; an async
    /// one is spawned by `publish` and awaited by `publish_async`.
    #[default]
    Inline,
    /// Always spawned, never awaited; counted in
    /// [`Report::scheduled`](crate::Report::scheduled).
    Background,
    /// A sync handler run on the runtime's blocking pool, for CPU-bound or
    /// blocking work.
    Blocking,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inline => "inline",
            Self::Background => "background",
            Self::Blocking => "blocking",
        })
    }
}

/// Where a handler is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    file: &'static str,
    line: u32,
    column: u32,
}

impl SourceLocation {
    #[doc(hidden)]
    #[must_use]
    pub const fn new(file: &'static str, line: u32, column: u32) -> Self {
        Self { file, line, column }
    }

    pub(crate) fn caller(location: &'static std::panic::Location<'static>) -> Self {
        Self::new(location.file(), location.line(), location.column())
    }

    /// The source file, as `file!()` names it.
    #[must_use]
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line, starting at 1.
    #[must_use]
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The column, starting at 1.
    #[must_use]
    pub fn column(&self) -> u32 {
        self.column
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A description of one handler: which event it takes, its name, where it
/// is written and how it is run.
///
/// [`Bus::handlers`](crate::Bus::handlers) lists them; every
/// [`HandlerFailure`](crate::HandlerFailure) names one.
#[derive(Clone)]
pub struct HandlerInfo {
    event_name: &'static str,
    handler_name: &'static str,
    location: SourceLocation,
    priority: i32,
    kind: HandlerKind,
    mode: Mode,
    group: Option<&'static str>,
    retry: u32,
    timeout_ms: u64,
    publishes: &'static [fn() -> &'static EventMeta],
    replay: bool,
}

impl HandlerInfo {
    pub(crate) fn new(
        event_name: &'static str,
        handler_name: &'static str,
        location: SourceLocation,
        priority: i32,
        kind: HandlerKind,
        mode: Mode,
    ) -> Self {
        Self {
            event_name,
            handler_name,
            location,
            priority,
            kind,
            mode,
            group: None,
            retry: 0,
            timeout_ms: 0,
            publishes: &[],
            replay: false,
        }
    }

    pub(crate) fn with_replay(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// Whether the handler runs on records read back from the log
    /// (origin [`Replay`](crate::Origin::Replay): replays, projections):
    /// only when it says so, `#[subscribe(replay)]`, so a replay never
    /// sends an email again.
    #[must_use]
    pub fn replay(&self) -> bool {
        self.replay
    }

    pub(crate) fn with_options(
        mut self,
        group: Option<&'static str>,
        retry: u32,
        timeout_ms: u64,
        publishes: &'static [fn() -> &'static EventMeta],
    ) -> Self {
        self.group = group;
        self.retry = retry;
        self.timeout_ms = timeout_ms;
        self.publishes = publishes;
        self
    }

    /// The name of the event the handler takes ([`Event::NAME`](crate::Event::NAME)),
    /// or `AnyEvent` / `DeadEvent` for the catch-all kinds.
    #[must_use]
    pub fn event_name(&self) -> &'static str {
        self.event_name
    }

    /// The handler's full path, e.g. `shop::inventory::update_inventory`,
    /// or the name given with `#[subscribe(name = "...")]`. For a
    /// subscription made at run time, the closure's type name.
    #[must_use]
    pub fn handler_name(&self) -> &'static str {
        self.handler_name
    }

    /// Where the handler is written (for a run-time subscription: where
    /// `subscribe` was called). Displays as `file:line`.
    #[must_use]
    pub fn location(&self) -> SourceLocation {
        self.location
    }

    /// The handler's priority: higher runs first, 0 by default.
    #[must_use]
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the handler is sync or async.
    #[must_use]
    pub fn kind(&self) -> HandlerKind {
        self.kind
    }

    /// How the bus runs the handler.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The handler's group (`#[subscribe(group = "..")]`): it runs only on
    /// buses built with `.groups([..])` naming it. `None` runs everywhere.
    #[must_use]
    pub fn group(&self) -> Option<&'static str> {
        self.group
    }

    /// How many times a failed call is tried again (`retry = N`).
    #[must_use]
    pub fn retry(&self) -> u32 {
        self.retry
    }

    /// The handler's own time limit (`timeout_ms = N`).
    #[must_use]
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms))
    }

    /// The names of the events the handler declares it publishes
    /// (`publishes = [..]`), for [`Bus::graph`](crate::Bus::graph).
    #[must_use]
    pub fn publishes(&self) -> Vec<&'static str> {
        self.publishes.iter().map(|meta| meta().name()).collect()
    }
}

impl PartialEq for HandlerInfo {
    fn eq(&self, other: &Self) -> bool {
        self.handler_name == other.handler_name
            && self.event_name == other.event_name
            && self.location == other.location
    }
}

impl Eq for HandlerInfo {}

// `publishes` is shown resolved to event names, not as fn pointers.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerInfo")
            .field("event_name", &self.event_name)
            .field("handler_name", &self.handler_name)
            .field("location", &format_args!("{}", self.location))
            .field("priority", &self.priority)
            .field("kind", &self.kind)
            .field("mode", &self.mode)
            .field("group", &self.group)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout())
            .field("publishes", &self.publishes())
            .finish()
    }
}

impl fmt::Display for HandlerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.handler_name)
    }
}

/// What a handler may return: `()` or `Result<(), E>` where `E` converts
/// into a boxed error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid handler return type",
    label = "handlers return `()` or `Result<(), E>`",
    note = "return nothing, or `Result<(), E>` where `E: Into<Box<dyn std::error::Error + Send + Sync>>`"
)]
pub trait IntoHandlerResult {
    /// Turns the handler's return value into the bus's result.
    ///
    /// # Errors
    ///
    /// Returns the handler's error, boxed.
    fn into_handler_result(self) -> Result<(), BoxError>;
}

impl IntoHandlerResult for () {
    #[inline]
    fn into_handler_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

// Keeps rustc on this trait's message when `E` is not an error type.
#[diagnostic::do_not_recommend]
impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    #[inline]
    fn into_handler_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}
